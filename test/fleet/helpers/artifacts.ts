/**
 * What the provisioning tests hand to the roles: the kiln release (scripts/release.mjs) and a
 * Node archive in the nodejs.org layout (`node-v<version>-linux-x64/bin/node`) holding THIS
 * machine's node binary — the role's "archive on the controller" path; its nodejs.org download
 * path is not exercised here (no network but the registries). Both are kept under .tmp/.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, copyFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const TOP = fileURLToPath(new URL('../../../', import.meta.url));

/** The release archive of this checkout (or under another `id`, for an upgrade). */
export function releaseArchive(id?: string): string {
  const args = [join(TOP, 'scripts/release.mjs'), ...(id ? ['--id', id] : [])];
  return execFileSync(process.execPath, args, { cwd: TOP }).toString().trim();
}

export async function nodeArchive(): Promise<string> {
  const version = process.version; // v20.x.y
  const name = `node-${version}-linux-x64`;
  const out = join(TOP, '.tmp/fleet', `${name}.tar.gz`);
  if (existsSync(out)) return out;
  await mkdir(join(TOP, '.tmp/fleet'), { recursive: true });
  const dir = await mkdtemp(join(TOP, '.tmp/fleet/node-'));
  await mkdir(join(dir, name, 'bin'), { recursive: true });
  await copyFile(process.execPath, join(dir, name, 'bin/node'));
  execFileSync('tar', ['-C', dir, '--owner=0', '--group=0', '-czf', `${out}.tmp`, name]);
  await rename(`${out}.tmp`, out);
  await rm(dir, { recursive: true, force: true });
  return out;
}
