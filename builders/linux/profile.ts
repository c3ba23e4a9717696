/**
 * Sandbox profiles: JSON files in bwrap-profiles/ (see its README.md), loaded by name and
 * validated strictly, so a typo in a profile is an error instead of a silently weaker sandbox.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { KilnError } from '../../protocol/errors.ts';
import { formatIssues } from '../../protocol/validate.ts';

/** What a profile name must look like: it is a file name, so no `/`, no `..`, no dot files. */
export const PROFILE_NAME = /^[a-z0-9][a-z0-9-]*$/;

/** The bwrap-profiles/ directory of this checkout. */
export const DEFAULT_PROFILES_DIR = fileURLToPath(new URL('../../bwrap-profiles/', import.meta.url));

/** Namespaces a profile may unshare. */
export const NAMESPACES = ['user', 'pid', 'ipc', 'uts', 'net', 'cgroup'] as const;
export type Namespace = (typeof NAMESPACES)[number];
/** Namespaces every profile must unshare: without them the sandbox is not one. */
export const REQUIRED_NAMESPACES: readonly Namespace[] = ['user', 'pid', 'ipc', 'net'];

/** Mount points the runner owns; a profile may not put anything on or under them. */
const RESERVED = ['/proc', '/dev', '/job'];

const sandboxPath = z
  .string()
  .max(4096)
  .refine((p) => p.startsWith('/') && !p.includes('\0') && !p.split('/').includes('..'), {
    message: 'must be an absolute path without ..',
  });
const mountPoint = sandboxPath.refine(
  (p) => p !== '/' && !RESERVED.some((r) => p === r || p.startsWith(`${r}/`)),
  { message: `must not be / or on ${RESERVED.join(', ')}` },
);
const id = z.number().int().min(1, 'must not be 0 (root)').max(4_294_967_294);

export const profileSchema = z
  .object({
    /** What the profile is for. */
    description: z.string().max(1000).default(''),
    /** Host uid the job runs as (never 0). */
    uid: id,
    /** Host gid the job runs as (never 0). */
    gid: id,
    /** Hostname inside the sandbox (needs the uts namespace). @default "kiln" */
    hostname: z
      .string()
      .regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/)
      .default('kiln'),
    /** Namespaces to unshare; must include user, pid, ipc and net. */
    unshare: z
      .array(z.enum(NAMESPACES))
      .refine((ns) => new Set(ns).size === ns.length, { message: 'must not repeat a namespace' })
      .refine((ns) => REQUIRED_NAMESPACES.every((r) => ns.includes(r)), {
        message: `must include ${REQUIRED_NAMESPACES.join(', ')}`,
      }),
    /** The host's system directories, used when the job has no toolchain root. */
    hostSystem: z
      .object({
        roBind: z.array(
          z
            .object({
              src: sandboxPath,
              dest: mountPoint,
              /** Skip it when `src` does not exist on the host. @default false */
              optional: z.boolean().default(false),
            })
            .strict(),
        ),
        symlinks: z
          .array(z.object({ path: mountPoint, target: z.string().min(1).max(4096) }).strict())
          .default([]),
      })
      .strict(),
    /** Fresh writable tmpfs mounts (memory-backed, charged to the job's memory limit). */
    tmpfs: z
      .array(
        z.object({ path: mountPoint, sizeMiB: z.number().int().min(1).max(1_048_576).optional() }).strict(),
      )
      .default([]),
    /** Base environment; the job's env is laid over it. */
    env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), z.string().max(131_072)).default({}),
    /** Apply kiln's seccomp allow-list (builders/linux/seccomp-table.ts). @default true */
    seccomp: z.boolean().default(true),
    /**
     * Sockets the job may create. The network namespace is always new and empty; "loopback" lets
     * the job use AF_INET/AF_INET6 on its own loopback (test servers), "none" only AF_UNIX. @default "none"
     */
    network: z.enum(['none', 'loopback']).default('none'),
  })
  .strict();

export type Profile = z.infer<typeof profileSchema>;

/**
 * Loads and validates `<dir>/<name>.json`.
 * @throws KilnError ERR_VALIDATION for a bad or unknown name, ERR_CONFIG for a broken profile file.
 */
export async function loadProfile(name: string, dir: string = DEFAULT_PROFILES_DIR): Promise<Profile> {
  if (!PROFILE_NAME.test(name) || name.length > 64) {
    throw new KilnError('ERR_VALIDATION', `invalid sandbox profile name ${JSON.stringify(name)}`);
  }
  const file = join(dir, `${name}.json`);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new KilnError('ERR_VALIDATION', `unknown sandbox profile "${name}"`);
    }
    throw new KilnError(
      'ERR_CONFIG',
      `cannot read sandbox profile "${name}": ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
      {
        cause: err,
      },
    );
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new KilnError('ERR_CONFIG', `sandbox profile "${name}" is not JSON: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const r = profileSchema.safeParse(raw);
  if (r.success) return r.data;
  const problems = formatIssues(r.error.issues);
  throw new KilnError('ERR_CONFIG', `invalid sandbox profile "${name}": ${problems.join('; ')}`, {
    detail: { problems },
  });
}
