/**
 * The fast path's inline files: small inputs written into the job directory, and small results
 * (stdout, stderr, declared output files) read back without a separate blob round trip.
 */
import { lstat, readFile, writeFile, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { KilnError } from '../../protocol/errors.ts';
import type { InlineResult, JobSpec } from '../../protocol/job.ts';

/** Largest total of inline result files and output. @default 4 MiB */
export const INLINE_RESULT_MAX = 4 << 20;

/** Throws unless every parent of `rel` under `root` is a real directory (never write through a link). */
async function assertNoLinkOnPath(root: string, rel: string): Promise<void> {
  const parts = rel.split('/');
  let cur = root;
  for (const p of parts.slice(0, -1)) {
    cur = join(cur, p);
    const st = await lstat(cur).catch(() => null);
    if (st && !st.isDirectory())
      throw new KilnError('ERR_ARCHIVE_INVALID', `inline file ${rel} would be written through ${p}`);
  }
  const leaf = await lstat(join(root, rel)).catch(() => null);
  if (leaf && !leaf.isFile())
    throw new KilnError('ERR_ARCHIVE_INVALID', `inline file ${rel} would replace a non-file`);
}

/** Writes the spec's inline files into the job directory. */
export async function writeInlineFiles(root: string, inline: NonNullable<JobSpec['inline']>): Promise<void> {
  for (const f of inline) {
    await assertNoLinkOnPath(root, f.path);
    await mkdir(dirname(join(root, f.path)), { recursive: true });
    await writeFile(join(root, f.path), Buffer.from(f.data, 'base64'), {
      mode: f.executable ? 0o755 : 0o644,
    });
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
 * The declared outputs that are regular files (read without following links), with stdout and
 * stderr; null when it would not fit in {@link INLINE_RESULT_MAX}.
 */
export async function readInlineResult(
  root: string,
  outputs: string[],
  stdout: Buffer,
  stderr: Buffer,
): Promise<{ result: InlineResult; missing: string[] } | null> {
  let total = stdout.byteLength + stderr.byteLength;
  const files: InlineResult['files'] = [];
  const missing: string[] = [];
  for (const rel of outputs) {
    const st = await lstat(join(root, rel)).catch(() => null);
    if (!st) {
      missing.push(rel);
      continue;
    }
    if (!st.isFile()) return null; // directories and links go by the outputs tar
    await assertNoLinkOnPath(root, rel).catch(() => {
      throw new KilnError('ERR_ARCHIVE_INVALID', `output ${rel} is behind a link`);
    });
    total += st.size;
    if (total > INLINE_RESULT_MAX) return null;
    files.push({
      path: rel,
      data: (await readFile(join(root, rel))).toString('base64'),
      executable: (st.mode & 0o111) !== 0,
    });
  }
  return { result: { stdout: stdout.toString('base64'), stderr: stderr.toString('base64'), files }, missing };
}
