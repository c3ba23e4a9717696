/**
 * Resolves a declared output path under the job directory without following a link at any
 * depth, and without telling apart what lies beyond a link (no existence oracle).
 *
 * Every prefix of the path is `lstat`ed from the job directory down, one component at a time:
 * a component that is a symlink stops the walk with `behind-link`, whatever its target is or
 * whether it exists; a missing component (or a file used as a directory) stops it with
 * `missing`. Only when every parent is a real directory is the leaf itself `lstat`ed, which
 * then follows nothing. The parent's realpath is checked to be the lexical one as well.
 *
 * Outputs are resolved after every process of the job is gone (the runner removes its
 * cgroup first), so the tree cannot change between these checks and the read that follows.
 */
import { lstatSync, realpathSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { checkEntryPath } from '../../archive/entry-path.ts';

export type ResolvedOutput =
  { kind: 'ok'; abs: string; st: Stats } | { kind: 'missing' } | { kind: 'rejected'; reason: string };

/** What a declared output that cannot be brought back is, in words the client is shown. */
export interface RejectedOutput {
  path: string;
  reason: string;
}

/** `lstat` of `p`, or null when it cannot be read (missing, or a file used as a directory). */
function lstatOrNull(p: string): Stats | null {
  try {
    return lstatSync(p);
  } catch {
    return null;
  }
}

function realpathOrNull(p: string): string | null {
  try {
    return realpathSync(p);
  } catch {
    return null;
  }
}

/**
 * Resolves `rel` under `root` (an absolute, real directory). Synchronous calls: a few `lstat`s of
 * a settled tree cost less than a thread-pool round trip each.
 */
export async function resolveOutput(root: string, rel: string): Promise<ResolvedOutput> {
  const checked = checkEntryPath(rel);
  if (checked.problem !== undefined) return { kind: 'rejected', reason: checked.problem };
  const segs = checked.segments;
  let cur = root;
  for (const seg of segs.slice(0, -1)) {
    cur = join(cur, seg);
    const st = lstatOrNull(cur);
    if (!st) return { kind: 'missing' };
    if (st.isSymbolicLink()) return { kind: 'rejected', reason: 'is behind a symbolic link' };
    if (!st.isDirectory()) return { kind: 'missing' };
  }
  if (realpathOrNull(cur) !== cur) return { kind: 'rejected', reason: 'is behind a symbolic link' };
  const abs = join(root, ...segs);
  const st = lstatOrNull(abs);
  if (!st) return { kind: 'missing' };
  return { kind: 'ok', abs, st };
}

/** Why a resolved output of this type is not brought back, or undefined for a file or directory. */
export function unsupportedKind(st: Stats): string | undefined {
  if (st.isFile() || st.isDirectory()) return undefined;
  if (st.isSymbolicLink()) return 'is a symbolic link (declare what it points to)';
  if (st.isFIFO()) return 'is a FIFO';
  if (st.isSocket()) return 'is a socket';
  return 'is a device or another special file';
}
