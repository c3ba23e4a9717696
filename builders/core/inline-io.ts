/**
 * The fast path's inline files: small inputs written into the job directory, and small results
 * (stdout, stderr, declared output files) read back without a separate blob round trip.
 */
import {
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  mkdirSync,
  openSync,
  readSync,
  realpathSync,
  writeFileSync,
  type Stats,
} from 'node:fs';
import { open, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { KilnError } from '../../protocol/errors.ts';
import type { InlineResult, JobSpec } from '../../protocol/job.ts';
import { resolveOutput, unsupportedKind, type RejectedOutput } from './output-path.ts';

/** Largest total of inline result files and output. @default 4 MiB */
export const INLINE_RESULT_MAX = 4 << 20;

/**
 * Files up to this size are written and read with synchronous calls: for a small file the
 * thread-pool round trips (open, write or read, close) cost more than the copy itself.
 */
const SYNC_MAX = 1 << 20;

const lstatOrNull = (p: string): Stats | null => lstatSync(p, { throwIfNoEntry: false }) ?? null;

/** Throws unless every parent of `rel` under `root` is a real directory (never write through a link). */
function assertNoLinkOnPath(root: string, rel: string): void {
  const parts = rel.split('/');
  let cur = root;
  for (const p of parts.slice(0, -1)) {
    cur = join(cur, p);
    const st = lstatOrNull(cur);
    if (st && !st.isDirectory())
      throw new KilnError('ERR_ARCHIVE_INVALID', `inline file ${rel} would be written through ${p}`);
  }
  const leaf = lstatOrNull(join(root, rel));
  if (leaf && !leaf.isFile())
    throw new KilnError('ERR_ARCHIVE_INVALID', `inline file ${rel} would replace a non-file`);
}

/** Writes the spec's inline files into the job directory. */
export async function writeInlineFiles(root: string, inline: NonNullable<JobSpec['inline']>): Promise<void> {
  for (const f of inline) {
    assertNoLinkOnPath(root, f.path);
    mkdirSync(dirname(join(root, f.path)), { recursive: true });
    const opts = { mode: f.executable ? 0o755 : 0o644 };
    if (f.data.byteLength <= SYNC_MAX) writeFileSync(join(root, f.path), f.data, opts);
    else await writeFile(join(root, f.path), f.data, opts);
  }
}

/** Keeps the first `max` bytes of a stream of chunks. */
export function boundedCapture(max: number): {
  push(c: Uint8Array): void;
  bytes(): Buffer;
  overflow: () => boolean;
} {
  const parts: Uint8Array[] = [];
  let size = 0;
  let over = false;
  return {
    push(c) {
      if (size + c.byteLength > max) {
        over = true;
        return;
      }
      parts.push(c);
      size += c.byteLength;
    },
    bytes: () => Buffer.concat(parts),
    overflow: () => over,
  };
}

/**
 * The declared outputs that are regular files (resolved without following a link at any depth),
 * with stdout and stderr; null when one is a directory or a symlink (those go by the outputs
 * tar) or when it would not fit in {@link INLINE_RESULT_MAX}.
 */
export async function readInlineResult(
  root: string,
  outputs: string[],
  stdout: Buffer,
  stderr: Buffer,
): Promise<{ result: InlineResult; missing: string[]; rejected: RejectedOutput[] } | null> {
  let total = stdout.byteLength + stderr.byteLength;
  const files: InlineResult['files'] = [];
  const missing: string[] = [];
  const rejected: RejectedOutput[] = [];
  const realRoot = realpathSync(root);
  for (const rel of outputs) {
    const r = await resolveOutput(realRoot, rel);
    if (r.kind === 'missing') missing.push(rel);
    if (r.kind === 'rejected') rejected.push({ path: rel, reason: r.reason });
    if (r.kind !== 'ok') continue;
    if (r.st.isDirectory() || r.st.isSymbolicLink()) return null;
    const why = unsupportedKind(r.st);
    if (why) {
      rejected.push({ path: rel, reason: why });
      continue;
    }
    total += r.st.size;
    if (total > INLINE_RESULT_MAX) return null;
    const data = await readRegular(r.abs, r.st.size);
    if (!data) return null;
    files.push({ path: rel, data: data.toString('base64'), executable: (r.st.mode & 0o111) !== 0 });
  }
  const result = { stdout: stdout.toString('base64'), stderr: stderr.toString('base64'), files };
  return { result, missing, rejected };
}

/** The bytes of a regular file opened without following a link, or null when it is not `size` bytes. */
async function readRegular(abs: string, size: number): Promise<Buffer | null> {
  if (size <= SYNC_MAX) return readRegularSync(abs, size);
  const fh = await open(abs, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    const st = await fh.stat();
    if (!st.isFile() || st.size !== size) return null;
    const buf = Buffer.alloc(size);
    const { bytesRead } = await fh.read(buf, 0, size, 0);
    return bytesRead === size ? buf : null;
  } finally {
    await fh.close();
  }
}

/** {@link readRegular} with synchronous calls, for a small file. */
function readRegularSync(abs: string, size: number): Buffer | null {
  const fd = openSync(abs, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || st.size !== size) return null;
    const buf = Buffer.alloc(size);
    return readSync(fd, buf, 0, size, 0) === size ? buf : null;
  } finally {
    closeSync(fd);
  }
}
