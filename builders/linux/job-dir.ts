/**
 * Host-side preparation of the directories a sandbox mounts: the job directory is handed to the
 * job's uid (recursively, never following links), and every directory bwrap must open is checked
 * to be reachable by that uid, so a mistake is a clear error instead of a bwrap message.
 *
 * Per job this is a handful of metadata calls on a directory of a few entries, so they are made
 * synchronously (a thread-pool round trip each costs more than the call), and a directory found
 * reachable is not checked again for that uid and gid: the work directories above the job's
 * belong to the builder and stay as they are (the check gives a clear error, it grants nothing).
 */
import { lchownSync, lstatSync, readdirSync, statSync } from 'node:fs';
import { lchown, readdir, readlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { KilnError } from '../../protocol/errors.ts';
import type { RootEntry } from './bwrap-args.ts';

/** Directories found reachable, by `uid:gid:path` (bounded: cleared when full). */
const reachable = new Set<string>();

/** Throws unless `uid:gid` may search every directory from / down to `dir` (inclusive). */
export async function assertReachable(dir: string, uid: number, gid: number): Promise<void> {
  const chain: string[] = [];
  for (let d = resolve(dir); ; d = dirname(d)) {
    if (reachable.has(`${uid}:${gid}:${d}`)) break; // and so is every directory above it
    chain.unshift(d);
    if (d === dirname(d)) break;
  }
  for (const d of chain) {
    const st = statSync(d);
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
  if (reachable.size > 10_000) reachable.clear();
  for (const d of chain) reachable.add(`${uid}:${gid}:${d}`);
}

/** Directories of more entries than this are handed over with asynchronous calls, in parallel. */
const SYNC_ENTRIES = 64;

async function chownTree(dir: string, uid: number, gid: number): Promise<void> {
  const entries = readdirSync(dir, { withFileTypes: true });
  if (entries.length > SYNC_ENTRIES) {
    await Promise.all(
      entries.map(async (e) => {
        const p = join(dir, e.name);
        await lchown(p, uid, gid);
        if (e.isDirectory()) await chownTree(p, uid, gid);
      }),
    );
    return;
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    lchownSync(p, uid, gid);
    if (e.isDirectory()) await chownTree(p, uid, gid);
  }
}

/**
 * Makes `jobDir` (a real directory, not a link) and everything in it owned by `uid:gid`,
 * after checking the uid can reach it.
 */
export async function prepareJobDir(jobDir: string, uid: number, gid: number): Promise<void> {
  let st;
  try {
    st = lstatSync(jobDir);
  } catch (err) {
    throw new KilnError('ERR_INTERNAL', `job directory ${jobDir} is missing`, { cause: err });
  }
  if (!st.isDirectory()) throw new KilnError('ERR_INTERNAL', `job directory ${jobDir} is not a directory`);
  await assertReachable(dirname(jobDir), uid, gid);
  lchownSync(jobDir, uid, gid);
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
