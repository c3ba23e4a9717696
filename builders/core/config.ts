/** Builder configuration (builder.toml + KILN_* environment), validated with every problem at once. */
import { cpus, hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { PLATFORMS } from '../../protocol/job.ts';
import { redisConfigSchema, storageConfigSchema } from '../../protocol/farm-config.ts';

function hostPlatform(): (typeof PLATFORMS)[number] {
  if (process.platform === 'freebsd') return process.arch === 'arm64' ? 'freebsd-aarch64' : 'freebsd-amd64';
  return process.arch === 'arm64' ? 'linux-aarch64' : 'linux-x86_64';
}

/** Keys of [sandbox] that only `type = "pot"` (FreeBSD) reads. */
const POT_KEYS = [
  'potPath',
  'jailPath',
  'rctlPath',
  'pkillPath',
  'dmesgPath',
  'zfsPath',
  'template',
  'poolSize',
  'potLeaseSec',
  'loopbackNet',
  'cpus',
  'sweepSec',
] as const;
const absolute = z.string().startsWith('/', 'must be an absolute path');

const sandboxSchema = z
  .object({
    /** "bwrap" (Linux: bubblewrap + cgroups) or "pot" (FreeBSD: jails of a pot pool). @default by platform */
    type: z.enum(['bwrap', 'pot']).optional(),
    /** Directory of sandbox profiles. @default bwrap-profiles/ (bwrap) or pot-templates/ (pot) of this checkout */
    profilesDir: z.string().optional(),
    /** bwrap: parent cgroup of job cgroups. @default "kiln" */
    cgroupParent: z.string().default('kiln'),
    /** bwrap: host uid jobs run as (a dedicated user with no login, never 0). @default the profile's (65534) */
    uid: z.number().int().min(1).max(0xfffffffe).optional(),
    /** bwrap: host gid jobs run as. @default the profile's (65534) */
    gid: z.number().int().min(1).max(0xfffffffe).optional(),
    /**
     * bwrap: per-job disk quota. "loop": each job directory is an ext4 image of the job's
     * limits.diskMiB, loop-mounted (needs root, mkfs.ext4, loop devices); "none": a plain
     * directory on the work disk (limits.diskMiB is not enforced). @default "loop"
     */
    diskQuota: z.enum(['loop', 'none']).optional(),
    /**
     * bwrap: sandboxes kept ready ahead of jobs, per profile in use (a job on the host system then
     * skips the sandbox's start-up); 0: every job starts its sandbox when it arrives. @default 2
     */
    readyAhead: z.number().int().min(0).max(64).default(2),
    /** pot: the pot command. @default "/usr/local/bin/pot" */
    potPath: absolute.optional(),
    /** pot: jail(8). @default "/usr/sbin/jail" */
    jailPath: absolute.optional(),
    /** pot: rctl(8). @default "/usr/bin/rctl" */
    rctlPath: absolute.optional(),
    /** pot: pkill(1). @default "/bin/pkill" */
    pkillPath: absolute.optional(),
    /** pot: dmesg(8). @default "/sbin/dmesg" */
    dmesgPath: absolute.optional(),
    /** pot: zfs(8), for the per-job quota on the pot's datasets. @default "/sbin/zfs" */
    zfsPath: absolute.optional(),
    /** pot: the template pot every jail is cloned from (pot-templates/create-template.sh). @default "kiln-build" */
    template: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be a pot name (letters, digits, _ and -)')
      .optional(),
    /** pot: jails kept ready; more jobs than this wait for one. @default `slots` */
    poolSize: z.number().int().min(1).max(254).optional(),
    /** pot: how long a jail is reused before it is destroyed and replaced, seconds. @default 3600 */
    potLeaseSec: z.number().int().min(120).max(604_800).optional(),
    /** pot: first three octets of the jails' lo0 addresses; jail i gets .i+1. @default "127.0.2" */
    loopbackNet: z
      .string()
      .regex(/^127\.(25[0-5]|2[0-4]\d|1?\d?\d)\.(25[0-5]|2[0-4]\d|1?\d?\d)$/, 'must be three octets 127.x.y')
      .refine((v) => v !== '127.0.0', "must not be 127.0.0 (the host's own 127.0.0.1 lives there)")
      .optional(),
    /** pot: CPUs of each jail's cpuset (`pot set-rss -C`). @default all */
    cpus: z.number().int().min(1).max(1024).optional(),
    /** pot: how often the cleaner destroys expired jails, seconds. @default 30 */
    sweepSec: z.number().int().min(1).max(3600).optional(),
  })
  .strict()
  .superRefine((s, ctx) => {
    if (s.type === 'pot') {
      if (s.diskQuota !== undefined)
        ctx.addIssue({ code: 'custom', path: ['diskQuota'], message: 'is read only with type = "bwrap"' });
      return;
    }
    for (const k of POT_KEYS)
      if (s[k] !== undefined)
        ctx.addIssue({ code: 'custom', path: [k], message: 'is read only with type = "pot"' });
  })
  .default({ cgroupParent: 'kiln', readyAhead: 2 });

export const builderConfigSchema = z
  .object({
    /** A name for logs; the builder id is `<name>-<random>`. @default the host name */
    name: z
      .string()
      .regex(/^[A-Za-z0-9_.-]{1,64}$/)
      .default(
        hostname()
          .replace(/[^A-Za-z0-9_.-]/g, '-')
          .slice(0, 64) || 'builder',
      ),
    platform: z.enum(PLATFORMS).default(hostPlatform()),
    /** Jobs run at once. @default the number of CPUs */
    slots: z.number().int().min(1).max(1024).default(cpus().length),
    /** Where job directories live. @default <tmp>/kiln-builder */
    workDir: z.string().default(join(tmpdir(), 'kiln-builder')),
    /** Size limit of the unpacked toolchain cache, bytes. @default 10 GiB */
    toolchainCacheBytes: z
      .number()
      .int()
      .min(1 << 20)
      .default(10 * 1024 ** 3),
    /** Size limit of the input blob cache (<workDir>/blobs), bytes. @default 10 GiB */
    blobCacheBytes: z
      .number()
      .int()
      .min(1 << 20)
      .default(10 * 1024 ** 3),
    /**
     * What an eviction brings the blob and toolchain caches down to, as a fraction of their
     * limit (evicting past the limit only, least recently used first, never what a job uses). @default 0.8
     */
    cacheLowWater: z.number().min(0.1).max(1).default(0.8),
    /**
     * Bytes of each job's log kept in Redis (the tail followers read); the whole log goes to the
     * store in segments. Bounds Redis memory per job whatever the job's logBytes. @default 4 MiB
     */
    logTailBytes: z
      .number()
      .int()
      .min(2 << 20)
      .max(256 << 20)
      .default(4 << 20),
    /** On SIGTERM, how long running jobs may finish before they are handed back to be placed again. @default 60000 */
    drainMs: z.number().int().min(0).max(3_600_000).default(60_000),
    /**
     * The work disk's reserve: while it has less free than this, the builder takes no job (it
     * advertises itself draining and hands back what it is sent), so jobs never fill it. @default 1 GiB
     */
    reserveBytes: z
      .number()
      .int()
      .min(0)
      .default(1024 ** 3),
    /** After a full disk, free space needed before jobs are taken again, bytes. @default 256 MiB */
    minFreeBytes: z
      .number()
      .int()
      .min(0)
      .default(256 * 1024 ** 2),
    /** How long a finished job (state, log) stays readable, seconds; keep it equal to the gateway's. @default 86400 */
    finishedTtlSec: z.number().int().min(60).default(86_400),
    /** Port of the builder's Prometheus `/metrics` listener (0: any free port); none when unset. */
    metricsPort: z.number().int().min(0).max(65535).optional(),
    /** Address of the metrics listener. @default "127.0.0.1" */
    metricsHost: z.string().default('127.0.0.1'),
    /** Lease length; heartbeats renew it at half this. @default 10000 */
    leaseMs: z.number().int().min(500).max(600_000).default(10_000),
    redis: redisConfigSchema,
    storage: storageConfigSchema,
    sandbox: sandboxSchema,
  })
  .strict()
  .superRefine(
    (c, ctx) => {
      const bsd = typeof c.platform === 'string' && c.platform.startsWith('freebsd-');
      const type = c.sandbox?.type ?? (bsd ? 'pot' : 'bwrap');
      if (type === 'pot' && !bsd)
        ctx.addIssue({
          code: 'custom',
          path: ['sandbox', 'type'],
          message: `"pot" runs on freebsd-* platforms, not ${c.platform}`,
        });
      if (type === 'bwrap' && bsd)
        ctx.addIssue({
          code: 'custom',
          path: ['sandbox', 'type'],
          message: `${c.platform} needs type = "pot"`,
        });
    },
    { when: () => true },
  );

export type BuilderConfig = z.infer<typeof builderConfigSchema>;

/** The sandbox a builder uses: the configured one, else "pot" on freebsd-* and "bwrap" elsewhere. */
export function sandboxType(cfg: BuilderConfig): 'bwrap' | 'pot' {
  return cfg.sandbox.type ?? (cfg.platform.startsWith('freebsd-') ? 'pot' : 'bwrap');
}
