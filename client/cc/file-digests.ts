/**
 * SHA-256 of the files a compile read, for direct mode's lookups (client/cc/manifest.ts). In a
 * long-running process (the kiln cc daemon) a file's digest is remembered with its identity and
 * times: device, inode, size, mtime and ctime, to the nanosecond. It is used again only while
 * all five are unchanged, and only for a file whose mtime and ctime were at least
 * {@link SETTLED_MS} older than the moment its contents were read: a write within the same
 * timestamp tick as the read cannot then go unnoticed (ccache's "too new" rule). Never trusts
 * mtime alone: a write sets ctime, which no program can put back (only a clock set back can).
 * Anything else (a changed stat, a young file, an error) reads and hashes the file again.
 *
 * What else kiln cc asks of a header's contents (does it mention `push_macro`,
 * client/cc/header-scan.ts) is found in the same read and remembered with the digest, under the
 * same rule: each settled header is read once per daemon life, whatever asks first.
 */
import { createHash } from 'node:crypto';
import { readFileSync, statSync, type BigIntStats } from 'node:fs';

/** How much older than its read a file's times must be for its digest to be kept. @default 2000 */
export const SETTLED_MS = 2000;
/** Digests remembered at most (then forgotten all at once). */
const MAX = 50_000;

interface Known {
  dev: bigint;
  ino: bigint;
  size: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  digest: string;
  pushMacro: boolean;
}

/** What a regular file's contents say. */
export interface FileFacts {
  digest: string;
  /** Do the contents mention `push_macro`? */
  pushMacro: boolean;
}

const known = new Map<string, Known>();

export function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

const same = (k: Known, st: BigIntStats): boolean =>
  k.ino === st.ino &&
  k.dev === st.dev &&
  k.size === st.size &&
  k.mtimeNs === st.mtimeNs &&
  k.ctimeNs === st.ctimeNs;

/**
 * A file's stat (taken before its contents were read) and, for a regular file that can be read,
 * its digest and `push_macro` mention (else null facts); null when it does not exist.
 */
export function fileFacts(file: string): { stat: BigIntStats; facts: FileFacts | null } | null {
  let st: BigIntStats | undefined;
  try {
    st = statSync(file, { bigint: true, throwIfNoEntry: false });
  } catch {
    return null;
  }
  if (!st) return null;
  if (!st.isFile()) return { stat: st, facts: null };
  const k = known.get(file);
  if (k && same(k, st)) return { stat: st, facts: { digest: k.digest, pushMacro: k.pushMacro } };
  const readAt = BigInt(Date.now() - SETTLED_MS) * 1_000_000n;
  let data: Buffer;
  try {
    data = readFileSync(file);
  } catch {
    return { stat: st, facts: null };
  }
  const digest = sha256(data);
  const pushMacro = data.includes('push_macro');
  // The stat was taken before the read: a write in between changes ctime, so the next stat differs.
  if (st.mtimeNs < readAt && st.ctimeNs < readAt) {
    if (known.size >= MAX) known.clear();
    known.set(file, {
      dev: st.dev,
      ino: st.ino,
      size: st.size,
      mtimeNs: st.mtimeNs,
      ctimeNs: st.ctimeNs,
      digest,
      pushMacro,
    });
  } else known.delete(file);
  return { stat: st, facts: { digest, pushMacro } };
}

/** The SHA-256 of a regular file's contents, or null when it cannot be read (missing, not a file). */
export function fileDigest(file: string): string | null {
  return fileFacts(file)?.facts?.digest ?? null;
}

/** Forgets every remembered digest (tests). */
export function forgetDigests(): void {
  known.clear();
}
