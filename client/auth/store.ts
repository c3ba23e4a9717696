/**
 * Login tokens, one file per gateway under `<config dir>/credentials/` (directory 0700, files
 * 0600, written whole through a temporary file and a rename, so a reader never sees half).
 */
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { UserError } from '../errors.ts';
import { configDir } from '../dirs.ts';

/** What a login leaves for later commands: enough to use and refresh the token. */
export const storedLoginSchema = z.object({
  gateway: z.string(),
  issuer: z.string(),
  clientId: z.string(),
  scope: z.string().optional(),
  resource: z.string().optional(),
  audience: z.string().optional(),
  accessToken: z.string(),
  refreshToken: z.string().optional(),
  /** Milliseconds since the epoch; absent when the provider did not say. */
  expiresAt: z.number().optional(),
});
export type StoredLogin = z.infer<typeof storedLoginSchema>;

/** The file of `gateway`'s login. */
export function loginFile(env: NodeJS.ProcessEnv, gateway: string): string {
  const id = createHash('sha256').update(gateway).digest('hex').slice(0, 24);
  return join(configDir(env), 'credentials', `${id}.json`);
}

/** The stored login for `gateway`, or null. A damaged file is the user's to remove: it says how. */
export function readLogin(env: NodeJS.ProcessEnv, gateway: string): StoredLogin | null {
  const file = loginFile(env, gateway);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new UserError(`cannot read the stored login ${file}: ${(err as Error).message}`);
  }
  let parsed: unknown = null;
  try {
    parsed = JSON.parse(text);
  } catch {
    /* reported below */
  }
  const r = storedLoginSchema.safeParse(parsed);
  if (!r.success || r.data.gateway !== gateway) {
    throw new UserError(
      `the stored login ${file} is damaged: run \`kiln auth logout\` and \`kiln auth login\``,
    );
  }
  return r.data;
}

/** Writes `login` with mode 0600 (its directory 0700). */
export function writeLogin(env: NodeJS.ProcessEnv, login: StoredLogin): string {
  const file = loginFile(env, login.gateway);
  const dir = join(file, '..');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = `${file}.${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(tmp, JSON.stringify(login, null, 2) + '\n', { mode: 0o600, flag: 'wx' });
  chmodSync(tmp, 0o600); // whatever the umask did
  renameSync(tmp, file);
  return file;
}

/** Removes `gateway`'s login; false when there was none. */
export function removeLogin(env: NodeJS.ProcessEnv, gateway: string): boolean {
  const file = loginFile(env, gateway);
  try {
    readFileSync(file);
  } catch {
    return false;
  }
  rmSync(file, { force: true });
  return true;
}
