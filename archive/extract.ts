/**
 * Unpacks an untrusted tar (plain or gzip) into a new directory, validating every entry before
 * it touches the disk: see {@link extractTar}.
 */
import { lstat, mkdir, readdir, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import tar from 'tar-stream';
import type { Extract } from 'tar-stream';
import { KilnError } from '../protocol/errors.ts';
import { checkEntryPath, symlinkTargetProblem } from './entry-path.ts';
import { detectFormat, gzipGuards, sniff } from './tar-input.ts';
import { resolveArchiveLimits } from './limits.ts';
import type { ArchiveLimits } from './limits.ts';
import { fileMode, invalid, SafeTree } from './safe-tree.ts';

export interface ExtractResult {
  /** Entries in the archive (files, directories, links). */
  entries: number;
  /** Bytes of file contents written. */
  bytes: number;
}

const BLOCK = 512;

/** True for a real, empty directory (not a link). */
async function isEmptyDir(dir: string): Promise<boolean> {
  const st = await lstat(dir).catch(() => null);
  return st !== null && st.isDirectory() && (await readdir(dir)).length === 0;
}

/**
 * Extracts `source` (a tar, or a gzip-compressed tar: the format is sniffed from its first
 * bytes) into `destDir`, which must NOT exist yet: it is created (with its parents) by this
 * call, 0755. Rejects with `ERR_CONFLICT` when it exists.
 *
 * Every entry is checked first: names (no absolute path, "..", backslash, drive letter or NUL,
 * within `maxPathLength`/`maxDepth`), types (files, directories, symlinks and hard links only),
 * symlink targets (relative, and never above the link's own directory), hard links (only to a
 * file extracted earlier), never a path through a symlink or a file, and the limits. On any
 * problem it rejects with `ERR_ARCHIVE_INVALID` naming the entry (or `ERR_INTERNAL` for a
 * local I/O failure) and removes `destDir` with everything extracted so far; nothing is ever
 * written outside `destDir`. A truncated or corrupt archive (including a missing end-of-archive
 * marker) is rejected the same way. zstd, xz and bzip2 are recognised and refused.
 *
 * Files are created 0644, or 0755 when the entry had an execute bit; directories 0755; never
 * setuid, setgid or sticky; no chown; modification times are not kept (files get the time of
 * extraction, which is what build tools want for fresh inputs and outputs).
 *
 * Assumes nothing else writes into `destDir` while this runs.
 */
export async function extractTar(
  source: Readable | Uint8Array,
  destDir: string,
  limits?: Partial<ArchiveLimits>,
): Promise<ExtractResult> {
  const lim = resolveArchiveLimits(limits);
  await mkdir(dirname(destDir), { recursive: true });
  try {
    await mkdir(destDir, 0o755);
  } catch (err) {
    // An empty directory made ready for it is fine (a job directory a sandbox already binds).
    const empty = (err as NodeJS.ErrnoException).code === 'EEXIST' && (await isEmptyDir(destDir));
    if (!empty) {
      if (source instanceof Readable) source.destroy();
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      throw new KilnError('ERR_CONFLICT', `cannot extract into ${destDir}: it already exists`);
    }
  }
  try {
    return await run(source, new SafeTree(destDir), lim);
  } catch (err) {
    await rm(destDir, { recursive: true, force: true });
    throw asKilnError(err);
  }
}

/** Progress shared by the feeding and the unpacking side. */
interface State {
  entries: number;
  bytes: number;
  /** Tar bytes fed to the parser, and the last 512 of them. */
  tarBytes: number;
  tail: Buffer;
  /** Offset just past the last entry's data. */
  lastEnd: number;
}

async function run(
  source: Readable | Uint8Array,
  tree: SafeTree,
  lim: ArchiveLimits,
): Promise<ExtractResult> {
  const { head, chunks } = await sniff(source);
  const format = detectFormat(head);
  if (format !== 'tar' && format !== 'gzip') {
    if (source instanceof Readable) source.destroy();
    throw new KilnError(
      'ERR_ARCHIVE_INVALID',
      `${format} archives are not supported yet (use tar or tar.gz)`,
    );
  }
  const state: State = { entries: 0, bytes: 0, tarBytes: 0, tail: Buffer.alloc(0), lastEnd: 0 };
  const extract = tar.extract();
  let closed = false;
  extract.on('close', () => (closed = true));
  const ac = new AbortController();

  const feed = async (src: AsyncIterable<Uint8Array>): Promise<void> => {
    for await (const chunk of src) {
      state.tarBytes += chunk.byteLength;
      state.tail =
        chunk.byteLength >= BLOCK
          ? Buffer.from(chunk.subarray(-BLOCK))
          : Buffer.concat([state.tail, chunk]).subarray(-BLOCK);
      if (closed) throw new Stopped();
      if (!extract.write(chunk)) await drained(extract, () => closed);
    }
    extract.end(null);
  };
  const input = Readable.from(chunks);
  const gzip = gzipGuards(lim);
  const piping = (
    format === 'gzip'
      ? pipeline(input, gzip.steps, createGunzip(), gzip.check, feed, { signal: ac.signal })
      : pipeline(input, feed, { signal: ac.signal })
  ).catch((err: unknown) => {
    extract.destroy(err as Error);
    throw err;
  });
  const unpacking = unpack(extract, tree, lim, state).catch((err: unknown) => {
    ac.abort();
    extract.destroy(new Stopped());
    throw err;
  });
  const [fed, unpacked] = await Promise.allSettled([piping, unpacking]);
  const errors = [unpacked, fed].flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
  if (errors.length > 0) {
    throw errors.find((e) => e instanceof KilnError) ?? errors.find((e) => !isSecondary(e)) ?? errors[0];
  }
  if (state.tarBytes < state.lastEnd + BLOCK || state.tail.some((b) => b !== 0)) {
    throw new KilnError('ERR_ARCHIVE_INVALID', 'truncated archive: no end-of-archive marker');
  }
  return { entries: state.entries, bytes: state.bytes };
}

async function unpack(extract: Extract, tree: SafeTree, lim: ArchiveLimits, state: State): Promise<void> {
  const windows = process.platform === 'win32';
  for await (const entry of extract) {
    const { header } = entry;
    const name = header.name;
    const size = header.size ?? 0;
    if (++state.entries > lim.maxEntries) throw invalid(name, `more than ${lim.maxEntries} entries`);
    if (Buffer.byteLength(name) > lim.maxPathLength)
      throw invalid(name, `name longer than ${lim.maxPathLength} bytes`);
    const checked = checkEntryPath(name, windows);
    if (checked.problem !== undefined) throw invalid(name, `name ${checked.problem}`);
    const { segments } = checked;
    if (segments.length > lim.maxDepth) throw invalid(name, `deeper than ${lim.maxDepth} levels`);
    const offset = (header as { byteOffset?: number }).byteOffset ?? 0;
    state.lastEnd = offset + Math.ceil(size / BLOCK) * BLOCK;

    const raw = header.type as string | null; // null for types tar-stream does not know
    const type = raw === 'contiguous-file' ? 'file' : raw;
    if (type !== 'file' && type !== 'directory' && type !== 'symlink' && type !== 'link') {
      throw invalid(name, `${type ?? 'unknown'} entries are not allowed`);
    }
    if (type !== 'file' && size !== 0) throw invalid(name, `a ${type} with ${size} bytes of data`);
    if (type === 'file') {
      if (size > lim.maxEntryBytes)
        throw invalid(name, `${size} bytes, more than the ${lim.maxEntryBytes} allowed`);
      if (state.bytes + size > lim.maxBytes)
        throw invalid(name, `total size over the ${lim.maxBytes} bytes allowed`);
      if (segments.length === 0) throw invalid(name, 'a file cannot be the root');
      state.bytes += await tree.file(
        name,
        segments,
        fileMode(header.mode),
        entry as AsyncIterable<Uint8Array>,
      );
    } else if (type === 'directory') {
      if (segments.length > 0) await tree.dir(name, segments);
    } else {
      const target = header.linkname ?? '';
      if (Buffer.byteLength(target) > lim.maxPathLength) throw invalid(name, 'link target too long');
      if (segments.length === 0) throw invalid(name, 'a link cannot be the root');
      if (type === 'symlink') {
        const problem = symlinkTargetProblem(target, segments);
        if (problem !== undefined) throw invalid(name, `symlink to "${target}" ${problem}`);
        await tree.symlink(name, segments, target);
      } else {
        const to = checkEntryPath(target, windows);
        if (to.problem !== undefined) throw invalid(name, `hard link target "${target}" ${to.problem}`);
        await tree.hardlink(name, segments, target, to.segments);
      }
    }
  }
}

class Stopped extends Error {
  constructor() {
    super('tar parser closed');
  }
}

function isSecondary(err: unknown): boolean {
  return err instanceof Stopped || (err instanceof Error && err.name === 'AbortError');
}

function drained(extract: Extract, isClosed: () => boolean): Promise<void> {
  if (isClosed()) return Promise.reject(new Stopped());
  return new Promise((resolve, reject) => {
    const done = (): void => {
      extract.off('drain', done);
      extract.off('close', done);
      if (isClosed()) reject(new Stopped());
      else resolve();
    };
    extract.on('drain', done);
    extract.on('close', done);
  });
}

function asKilnError(err: unknown): KilnError {
  if (err instanceof KilnError) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof Error && 'syscall' in err) {
    return new KilnError('ERR_INTERNAL', `extracting failed: ${message}`, { cause: err });
  }
  return new KilnError('ERR_ARCHIVE_INVALID', `corrupt or truncated archive: ${message}`, { cause: err });
}
