/**
 * Host-side preparation of the directories a sandbox mounts: the job directory is handed to the
 * job's uid (recursively, never following links), and every directory bwrap must open is checked
 * to be reachable by that uid, so a mistake is a clear error instead of a bwrap message.
 */
import { lchown, lstat, readdir, readlink, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { KilnError } from '../../protocol/errors.ts';
import type { RootEntry } from './bwrap-args.ts';

/** Throws unless `uid:gid` may search every directory from / down to `dir` (inclusive). */
export async function assertReachable(dir: string, uid: number, gid: number): Promise<void> {
  const chain: string[] = [];
  for (let d = resolve(dir); ; d = dirname(d)) {
    chain.unshift(d);
    if (d === dirname(d)) break;
  }
  for (const d of chain) {
    const st = await stat(d);
    const mode = st.mode;
    const ok =
      (mode & 0o001) !== 0 ||
      (st.uid === uid && (mode & 0o100) !== 0) ||
      (st.gid === gid && (mode & 0o010) !== 0);
    if (!ok) {
      throw new KilnError(
        'ERR_CONFIG',
        `the sandbox uid ${uid} cannot reach ${dir}: ${d} is mode ${(mode & 0o7777).toString(8)} ` +
          `owned by ${st.uid}:${st.gid}; make the builder's work directories traversable (chmod o+x ${d})`,
      );
    }
  }
}

async function chownTree(dir: string, uid: number, gid: number): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true });
  await Promise.all(
    entries.map(async (e) => {
      const p = join(dir, e.name);
      await lchown(p, uid, gid);
      if (e.isDirectory()) await chownTree(p, uid, gid);
    }),
  );
}

/**
 * Makes `jobDir` (a real directory, not a link) and everything in it owned by `uid:gid`,
 * after checking the uid can reach it.
 */
export async function prepareJobDir(jobDir: string, uid: number, gid: number): Promise<void> {
  const st = await lstat(jobDir).catch((err: unknown) => {
    throw new KilnError('ERR_INTERNAL', `job directory ${jobDir} is missing`, { cause: err });
  });
  if (!st.isDirectory()) throw new KilnError('ERR_INTERNAL', `job directory ${jobDir} is not a directory`);
  await assertReachable(dirname(jobDir), uid, gid);
  await lchown(jobDir, uid, gid);
  await chownTree(jobDir, uid, gid);
}

/** The top-level entries of a toolchain root, for bwrapArgs; checks the uid can reach it. */
export async function rootEntries(rootDir: string, uid: number, gid: number): Promise<RootEntry[]> {
  await assertReachable(rootDir, uid, gid).catch((err: unknown) => {
    if (err instanceof KilnError) throw err;
    throw new KilnError('ERR_INTERNAL', `toolchain root ${rootDir} is missing`, { cause: err });
  });
  const out: RootEntry[] = [];
  for (const e of await readdir(rootDir, { withFileTypes: true })) {
    if (e.isSymbolicLink()) {
      out.push({ name: e.name, kind: 'symlink', target: await readlink(join(rootDir, e.name)) });
    } else if (e.isDirectory()) {
      out.push({ name: e.name, kind: 'dir' });
    } else if (e.isFile()) {
      out.push({ name: e.name, kind: 'file' });
    }
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}
