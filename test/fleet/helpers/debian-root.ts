/**
 * A pristine Debian 12 root for the fleet tests: `debootstrap --variant=minbase` with the few
 * packages a freshly installed server has that Ansible needs (sshd, python3, python3-apt, procps).
 * It is made once and kept under ~/.cache/kiln (XDG_CACHE_HOME), in a directory named by a hash
 * of the suite, variant, mirror and package list, so changing the list makes a new one. Each test
 * host is an overlay over it with an empty upper layer: nothing a run installs is there for the next.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';

export const ROOT_PACKAGES = ['openssh-server', 'python3', 'python3-apt', 'procps'];
const SUITE = 'bookworm';
const VARIANT = 'minbase';
const MIRROR = process.env.KILN_DEBIAN_MIRROR ?? 'http://deb.debian.org/debian';

function cacheDir(): string {
  return join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'kiln');
}

/** The cached root's directory (made by debootstrap the first time: a few minutes). */
export async function debianBase(log: (m: string) => void = () => undefined): Promise<string> {
  const key = createHash('sha256')
    .update(JSON.stringify({ SUITE, VARIANT, MIRROR, packages: ROOT_PACKAGES }))
    .digest('hex')
    .slice(0, 16);
  const dir = join(cacheDir(), `debian-root-${key}`);
  if (existsSync(join(dir, 'usr/sbin/sshd'))) return dir;
  const tmp = `${dir}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(cacheDir(), { recursive: true });
  log(`debootstrap ${VARIANT} ${SUITE} into ${dir} (once)`);
  const args = [`--variant=${VARIANT}`, `--include=${ROOT_PACKAGES.join(',')}`, SUITE, tmp, MIRROR];
  await new Promise<void>((resolve, reject) => {
    const p = spawn('debootstrap', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
    p.on('error', reject);
    p.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`debootstrap failed (${code}): ${err}`)),
    );
  });
  // Test files run two at a time: another one may have made the same root meanwhile. Its copy
  // is as good as ours, so keep it (a rename onto a non-empty directory fails, never mixes them).
  await rename(tmp, dir).catch(async (err: NodeJS.ErrnoException) => {
    if ((err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST') || !existsSync(join(dir, 'usr/sbin/sshd')))
      throw err;
    await rm(tmp, { recursive: true, force: true });
  });
  return dir;
}
