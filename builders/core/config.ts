/** Builder configuration (builder.toml + KILN_* environment), validated with every problem at once. */
import { cpus, hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { PLATFORMS } from '../../protocol/job.ts';
import { redisConfigSchema, storageConfigSchema } from '../../protocol/farm-config.ts';

function hostPlatform(): (typeof PLATFORMS)[number] {
  if (process.platform === 'freebsd') return 'freebsd-amd64';
  return process.arch === 'arm64' ? 'linux-aarch64' : 'linux-x86_64';
}

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
    /** Lease length; heartbeats renew it at half this. @default 10000 */
    leaseMs: z.number().int().min(500).max(600_000).default(10_000),
    redis: redisConfigSchema,
    storage: storageConfigSchema,
    sandbox: z
      .object({
        /** Directory of sandbox profiles. @default bwrap-profiles/ of this checkout */
        profilesDir: z.string().optional(),
        /** Parent cgroup of job cgroups. @default "kiln" */
        cgroupParent: z.string().default('kiln'),
      })
      .strict()
      .default({ cgroupParent: 'kiln' }),
  })
  .strict();

export type BuilderConfig = z.infer<typeof builderConfigSchema>;
