/**
 * Packs a directory (or some paths in it) into a deterministic tar, never following a link:
 * see {@link packTree} and {@link packTreeToBuffer}.
 */
import { constants } from 'node:fs';
import type { Stats } from 'node:fs';
import { lstat, open, readdir, readlink, realpath } from 'node:fs/promises';
import { join, relative, isAbsolute, sep } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import tar from 'tar-stream';
import type { Pack } from 'tar-stream';
import { KilnError } from '../protocol/errors.ts';
import { checkEntryPath, symlinkTargetProblem } from './entry-path.ts';

export interface PackOptions {
  /**
   * Compress the tar with gzip (deterministic for one zlib build; the gzip header has no time).
   * @default false
   */
  gzip?: boolean;
}

export interface PackResult {
  /** The archive; errors (a file changed while packing) are emitted on it. */
  stream: Readable;
  /** Entries in the archive. */
  entries: number;
  /** Requested paths that do not exist (as given). */
  missing: string[];
  /**
   * Paths (relative, "/"-separated) left out: symlinks whose target leaves the tree (absolute,
   * too many "..", or resolving outside the root), paths that go through a symlink, and
   * sockets, fifos and devices.
   */
  skipped: string[];
}

type Item =
  | { name: string; kind: 'dir' }
  | { name: string; kind: 'file'; abs: string; mode: number; size: number }
  | { name: string; kind: 'symlink'; target: string };

type FileHeader = Parameters<Pack['entry']>[0] & { type: 'file'; size: number };

const READ_CHUNK = 64 * 1024;
/** Every header field that could differ between two packings of the same tree is fixed. */
const FIXED = { mtime: new Date(0), uid: 0, gid: 0, uname: '', gname: '' } as const;

/**
 * Packs `root`, or only `paths` in it (relative, "/"-separated, each a file, a symlink or a
 * directory taken recursively), into a tar: entries sorted by name, mtime 0, uid/gid 0, no
 * owner names, modes 0644/0755 (0755 when any execute bit is set) and 0755 for directories.
 * Symlinks are stored as symlinks when their target stays inside `root` (by the rule that
 * `extractTar` enforces), otherwise reported in `skipped`; no link is ever followed. Paths that
 * do not exist are reported in `missing`. A path that is absolute or has ".." is refused with
 * `ERR_VALIDATION`; a `root` that is not a directory with `ERR_NOT_FOUND`.
 *
 * The tree is listed before this resolves; contents are read only once the stream is read, so
 * the tree must not change until the stream ends (a file whose size changed fails the stream
 * with `ERR_CONFLICT`).
 */
export async function packTree(
  root: string,
  paths?: string[],
  options: PackOptions = {},
): Promise<PackResult> {
  const lister = new Lister(await rootDir(root));
  if (paths === undefined) await lister.walk([]);
  else for (const p of paths) await lister.add(p);
  const items = [...lister.items.values()]
    .map((item) => ({ key: Buffer.from(item.name), item }))
    .sort((a, b) => Buffer.compare(a.key, b.key))
    .map(({ item }) => item);

  const pack = tar.pack();
  pack.on('error', () => {}); // reaches the reader through the iterator; ignored once it is gone
  async function* lazily(): AsyncGenerator<Uint8Array> {
    produce(pack, items).catch((err: unknown) => pack.destroy(err as Error));
    yield* pack as AsyncIterable<Uint8Array>;
  }
  const tarStream = Readable.from(lazily(), { objectMode: false });
  let stream: Readable = tarStream;
  if (options.gzip) {
    const gz = createGzip();
    pipeline(tarStream, gz).catch(() => {}); // errors reach the reader through gz
    stream = gz;
  }
  return { stream, entries: items.length, missing: lister.missing, skipped: lister.skipped };
}

/** {@link packTree} collected into memory: for small trees (job outputs, tests). */
export async function packTreeToBuffer(
  root: string,
  paths?: string[],
  options: PackOptions = {},
): Promise<{ bytes: Uint8Array; entries: number; missing: string[]; skipped: string[] }> {
  const { stream, entries, missing, skipped } = await packTree(root, paths, options);
  const chunks: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk);
  return { bytes: new Uint8Array(Buffer.concat(chunks)), entries, missing, skipped };
}

async function rootDir(root: string): Promise<string> {
  const real = await realpath(root).catch(() => undefined);
  if (real === undefined || !(await lstat(real)).isDirectory()) {
    throw new KilnError('ERR_NOT_FOUND', `cannot pack ${root}: not a directory`);
  }
  return real;
}

/** Lists what goes into the archive, with lstat only. */
class Lister {
  readonly root: string;
  readonly items = new Map<string, Item>();
  readonly missing: string[] = [];
  readonly skipped: string[] = [];

  constructor(root: string) {
    this.root = root;
  }

  /** One requested path: every component is checked, none followed. */
  async add(path: string): Promise<void> {
    const checked = checkEntryPath(path);
    if (checked.problem !== undefined)
      throw new KilnError('ERR_VALIDATION', `output path "${path}" ${checked.problem}`);
    const segs = checked.segments;
    for (let i = 0; i <= segs.length; i++) {
      const st = await lstat(join(this.root, ...segs.slice(0, i))).catch(() => undefined);
      if (st === undefined || (i < segs.length && !st.isDirectory() && !st.isSymbolicLink())) {
        this.missing.push(path);
        return;
      }
      if (i < segs.length && st.isSymbolicLink()) {
        this.skipped.push(segs.join('/'));
        return;
      }
      if (i === segs.length) await this.#visit(segs, st);
    }
  }

  /** Everything below the directory at `segs`. */
  async walk(segs: string[]): Promise<void> {
    const names = await readdir(join(this.root, ...segs));
    for (const name of names) {
      const child = [...segs, name];
      await this.#visit(child, await lstat(join(this.root, ...child)));
    }
  }

  async #visit(segs: string[], st: Stats): Promise<void> {
    const name = segs.join('/');
    const abs = join(this.root, ...segs);
    if (st.isDirectory()) {
      if (segs.length > 0) this.items.set(name, { name, kind: 'dir' });
      await this.walk(segs);
    } else if (st.isFile()) {
      this.items.set(name, { name, kind: 'file', abs, mode: st.mode & 0o111 ? 0o755 : 0o644, size: st.size });
    } else if (st.isSymbolicLink() && (await this.#inside(abs, segs))) {
      this.items.set(name, { name, kind: 'symlink', target: await readlink(abs) });
    } else {
      this.skipped.push(name);
    }
  }

  /** True when the link's text stays inside, and so does what it resolves to (if anything). */
  async #inside(abs: string, segs: string[]): Promise<boolean> {
    if (symlinkTargetProblem(await readlink(abs), segs) !== undefined) return false;
    const real = await realpath(abs).catch(() => undefined); // dangling or looping: harmless
    if (real === undefined) return true;
    const rel = relative(this.root, real);
    return rel === '' || (!isAbsolute(rel) && rel !== '..' && !rel.startsWith(`..${sep}`));
  }
}

async function produce(pack: Pack, items: Item[]): Promise<void> {
  for (const item of items) {
    if (item.kind === 'dir') {
      quiet(pack.entry({ ...FIXED, name: `${item.name}/`, type: 'directory', mode: 0o755 }));
    } else if (item.kind === 'symlink') {
      quiet(pack.entry({ ...FIXED, name: item.name, type: 'symlink', linkname: item.target, mode: 0o777 }));
    } else {
      const header: FileHeader = {
        ...FIXED,
        name: item.name,
        type: 'file',
        mode: item.mode,
        size: item.size,
      };
      await packFile(pack, header, item.abs);
    }
  }
  pack.finalize();
}

/** Streams one file into the archive, refusing it if it is no longer the file that was listed. */
async function packFile(pack: Pack, header: FileHeader, abs: string): Promise<void> {
  const changed = (): KilnError =>
    new KilnError('ERR_CONFLICT', `${header.name} changed while it was being packed`);
  const fh = await open(abs, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0));
  try {
    const st = await fh.stat();
    if (!st.isFile() || st.size !== header.size) throw changed();
    await new Promise<void>((resolve, reject) => {
      const sink = quiet(pack.entry(header, (err) => (err ? reject(err) : resolve())));
      const copy = async (): Promise<void> => {
        for (let left = header.size; left > 0;) {
          const buf = Buffer.allocUnsafe(Math.min(READ_CHUNK, left));
          const { bytesRead } = await fh.read(buf, 0, buf.length, null);
          if (bytesRead === 0) throw changed();
          left -= bytesRead;
          if (!sink.write(buf.subarray(0, bytesRead))) await drained(sink);
        }
        sink.end(null);
      };
      copy().catch((err: unknown) => {
        sink.destroy(err as Error);
        reject(err as Error);
      });
    });
  } finally {
    await fh.close();
  }
}

type Sink = ReturnType<Pack['entry']>;

/** An entry's errors also reach the entry callback, or the pack: an 'error' listener is noise. */
function quiet(sink: Sink): Sink {
  sink.on('error', () => {});
  return sink;
}

/** Resolves on 'drain'; rejects if the sink closes first (the reader went away). */
function drained(sink: Sink): Promise<void> {
  if (sink.destroying || sink.destroyed) return Promise.reject(new Error('archive stream closed'));
  return new Promise((resolve, reject) => {
    const onDrain = (): void => {
      sink.off('close', onClose);
      resolve();
    };
    const onClose = (): void => {
      sink.off('drain', onDrain);
      reject(new Error('archive stream closed'));
    };
    sink.once('drain', onDrain);
    sink.once('close', onClose);
  });
}
