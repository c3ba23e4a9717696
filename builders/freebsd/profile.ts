/**
 * Pot sandbox profiles: JSON files in pot-templates/ (see its README.md), loaded by name and
 * validated strictly. A profile says how a job runs in a jail of the template: as which jail user
 * (its uid and gid own the job directory on the host), over which base environment, and which
 * rctl rules kiln adds for the job's limits.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { KilnError } from '../../protocol/errors.ts';
import { formatIssues } from '../../protocol/validate.ts';

export const DEFAULT_POT_PROFILES_DIR = fileURLToPath(new URL('../../pot-templates/', import.meta.url));
const PROFILE_NAME = /^[a-z0-9][a-z0-9-]*$/;

/** Where a rule's amount comes from: the job's memory limit (bytes) or its process limit. */
const rctlRule = z
  .object({
    resource: z.enum(['memoryuse', 'vmemoryuse', 'maxproc', 'openfiles', 'nthr']),
    action: z.enum(['deny', 'log', 'devctl', 'sigkill']),
    amount: z.enum(['memory', 'pids']),
  })
  .strict();

export const potProfileSchema = z
  .object({
    description: z.string().max(1000).default(''),
    /** The jail user the command runs as (made by the template's flavour script). */
    user: z.string().regex(/^[a-z_][a-z0-9_-]{0,31}$/),
    uid: z.number().int().min(1, 'must not be 0 (root)').max(4_294_967_294),
    gid: z.number().int().min(1, 'must not be 0 (wheel)').max(4_294_967_294),
    /** Base environment; the job's env is laid over it. */
    env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), z.string().max(131_072)).default({}),
    rctl: z
      .array(rctlRule)
      .refine((r) => r.some((x) => x.resource === 'memoryuse' && x.action === 'deny'), {
        message: 'must hold a memoryuse deny rule (the memory limit)',
      })
      .refine((r) => r.some((x) => x.resource === 'maxproc' && x.action === 'deny'), {
        message: 'must hold a maxproc deny rule (the process limit)',
      }),
  })
  .strict();

export type PotProfile = z.infer<typeof potProfileSchema>;

/** Loads and validates `<dir>/<name>.json`. */
export async function loadPotProfile(name: string, dir = DEFAULT_POT_PROFILES_DIR): Promise<PotProfile> {
  if (!PROFILE_NAME.test(name) || name.length > 64)
    throw new KilnError('ERR_VALIDATION', `invalid sandbox profile name ${JSON.stringify(name)}`);
  const file = join(dir, `${name}.json`);
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT')
      throw new KilnError('ERR_VALIDATION', `unknown sandbox profile "${name}" (no ${file})`);
    throw new KilnError('ERR_CONFIG', `cannot read pot profile ${file}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const r = potProfileSchema.safeParse(raw);
  if (r.success) return r.data;
  const problems = formatIssues(r.error.issues);
  throw new KilnError('ERR_CONFIG', `invalid pot profile ${file}: ${problems.join('; ')}`, {
    detail: { problems },
  });
}
