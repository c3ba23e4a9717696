/**
 * The blob store in a local directory: the one-machine default (`kiln dev`). Node only.
 *
 * Key `a/b/c` is the file `<root>/a/b/c`. Puts are atomic: the bytes go to a temp file in the
 * same folder, are fsynced, then renamed over the key, so a reader sees the old object or the
 * new one, never part of one. Temp files are named `.kiln-tmp-<16 hex>`; keys with a segment of
 * that form (or `.`) are refused, and listings skip them.
 *
 * Nothing is ever read or written through a symbolic link below `root`: every folder on a key's
 * path is checked with lstat, the file is opened with O_NOFOLLOW, and listings skip links.
 * (This guards against links placed in the store; the store assumes no other process rewrites
 * its folders while it works.) Folders left empty by deletes are not removed.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { lstat, mkdir, open, opendir, rename, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import { KilnError } from '../protocol/errors.ts';
import { assertStoreKey } from './port.ts';
import type { BlobStore } from './port.ts';

/** Where the store keeps its files. */
export interface LocalDirStoreOptions {
  /** The store's folder; created (with parents) on the first put. Relative paths resolve against the cwd. */
  root: string;
}

const TEMP = /^\.kiln-tmp-[0-9a-f]{16}$/;
const CHUNK = 64 * 1024;
const O_NOFOLLOW = constants.O_NOFOLLOW ?? 0;

/** Builds a blob store on a local folder. `presignPut`/`presignGet` return null: uploads go through the gateway. */
export function createLocalDirStore(opts: LocalDirStoreOptions): BlobStore {
  const root = resolve(opts.root);

  /** The key's segments, after checking it is a key this store can hold. */
  function segmentsOf(key: string): string[] {
    assertStoreKey(key);
    const segs = key.split('/');
    if (segs.some((s) => s === '.' || TEMP.test(s))) {
      throw new KilnError('ERR_VALIDATION', `local store: ${JSON.stringify(key)} has a reserved segment`);
    }
    const path = join(root, ...segs);
    if (!path.startsWith(root + sep))
      throw new KilnError('ERR_VALIDATION', `local store: ${JSON.stringify(key)} escapes the store`);
    return segs;
  }

  /**
   * The folder that holds the key's last segment, checked level by level: never through a link.
   * Null when a level is missing or is a file (with `create`, missing levels are made instead).
   */
  async function folderOf(key: string, segs: string[], create: boolean): Promise<string | null> {
    let dir = root;
    for (const name of segs.slice(0, -1)) {
      dir = join(dir, name);
      let st = await lstatOrNull(dir);
      if (!st && create) {
        await mkdir(dir).catch((err: NodeJS.ErrnoException) => {
          if (err.code !== 'EEXIST') throw err;
        });
        st = await lstatOrNull(dir);
      }
      if (!st) return null;
      if (st.isSymbolicLink()) throw linkRefused(key);
      if (!st.isDirectory()) {
        if (create)
          throw new KilnError('ERR_CONFLICT', `local store: cannot put ${key}: ${dir} is an object`);
        return null;
      }
    }
    return dir;
  }

  async function put(
    key: string,
    body: Uint8Array | ReadableStream<Uint8Array>,
    size?: number,
  ): Promise<void> {
    const segs = segmentsOf(key);
    if (body instanceof Uint8Array && size !== undefined && size !== body.byteLength) {
      throw sizeMismatch(key, size, body.byteLength);
    }
    const dir = await io('put', key, async () => {
      await mkdir(root, { recursive: true });
      return folderOf(key, segs, true);
    });
    if (dir === null)
      throw new KilnError('ERR_INTERNAL', `local store: could not make the folder for ${key}`);
    const target = join(dir, segs[segs.length - 1] ?? '');
    const temp = join(dir, `.kiln-tmp-${randomBytes(8).toString('hex')}`);
    // 'wx' is O_CREAT|O_EXCL: it never opens an existing file or follows a link.
    const fh = await open(temp, 'wx', 0o644).catch((err: unknown) => {
      throw ioError('put', key, err);
    });
    let closed = false;
    let renamed = false;
    let source: unknown; // an error of the caller's stream: passed through as it is
    try {
      let total = 0;
      if (body instanceof Uint8Array) {
        await writeAll(fh, body);
        total = body.byteLength;
      } else {
        const reader = body.getReader();
        try {
          for (;;) {
            const r = await reader.read().catch((err: unknown) => {
              source = err;
              throw err;
            });
            if (r.done) break;
            total += r.value.byteLength;
            if (size !== undefined && total > size) throw sizeMismatch(key, size, total);
            await writeAll(fh, r.value);
          }
        } catch (err) {
          await reader.cancel(err).catch(() => {});
          throw err;
        } finally {
          reader.releaseLock();
        }
      }
      if (size !== undefined && total !== size) throw sizeMismatch(key, size, total);
      await fh.sync();
      await fh.close();
      closed = true;
      await rename(temp, target).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'EISDIR' || err.code === 'ENOTEMPTY' || err.code === 'EEXIST') {
          throw new KilnError('ERR_CONFLICT', `local store: cannot put ${key}: a folder of that name exists`);
        }
        throw err;
      });
      renamed = true;
      await syncFolder(dir);
    } catch (err) {
      throw err === source ? err : ioError('put', key, err);
    } finally {
      if (!closed) await fh.close().catch(() => {});
      if (!renamed) await unlink(temp).catch(() => {});
    }
  }

  return {
    kind: 'local',

    async stat(key) {
      const segs = segmentsOf(key);
      return io('stat', key, async () => {
        const dir = await folderOf(key, segs, false);
        const st = dir === null ? null : await lstatOrNull(join(dir, segs[segs.length - 1] ?? ''));
        if (st?.isSymbolicLink()) throw linkRefused(key);
        return st?.isFile() ? { size: st.size } : null;
      });
    },

    put,

    async get(key) {
      const segs = segmentsOf(key);
      return io('get', key, async () => {
        const dir = await folderOf(key, segs, false);
        if (dir === null) return null;
        let fh: FileHandle;
        try {
          fh = await open(join(dir, segs[segs.length - 1] ?? ''), constants.O_RDONLY | O_NOFOLLOW);
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code === 'ENOENT' || code === 'ENOTDIR') return null;
          if (code === 'ELOOP') throw linkRefused(key);
          throw err;
        }
        const st = await fh.stat().catch(async (err: unknown) => {
          await fh.close();
          throw err;
        });
        if (!st.isFile()) {
          await fh.close();
          return null;
        }
        return fileStream(fh);
      });
    },

    async delete(key) {
      const segs = segmentsOf(key);
      await io('delete', key, async () => {
        const dir = await folderOf(key, segs, false);
        if (dir === null) return;
        // unlink never follows a link: a stray link is removed, its target is not touched.
        await unlink(join(dir, segs[segs.length - 1] ?? '')).catch((err: NodeJS.ErrnoException) => {
          if (err.code !== 'ENOENT' && err.code !== 'EISDIR' && err.code !== 'EPERM') throw err;
        });
      });
    },

    async *list(prefix) {
      if (prefix !== '') assertStoreKey(prefix.endsWith('/') ? prefix.slice(0, -1) : prefix);
      const cut = prefix.lastIndexOf('/');
      const base = cut < 0 ? '' : prefix.slice(0, cut);
      let dir: string | null = root;
      if (base !== '') {
        const segs = segmentsOf(`${base}/x`);
        dir = await io('list', prefix, () => folderOf(prefix, segs, false)).catch((err: unknown) => {
          if (err instanceof KilnError && err.code === 'ERR_FORBIDDEN') return null; // a link: list nothing
          throw err;
        });
      }
      if (dir !== null) yield* walk(dir, base === '' ? '' : `${base}/`, prefix);
    },

    async presignPut() {
      return null;
    },

    async presignGet() {
      return null;
    },
  };
}

/** Files under `dir` (whose keys start with `keyBase`) that match `prefix`; links and temp files are skipped. */
async function* walk(
  dir: string,
  keyBase: string,
  prefix: string,
): AsyncGenerator<{ key: string; size: number }> {
  let entries;
  try {
    entries = await opendir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR')
      return;
    throw ioError('list', prefix, err);
  }
  for await (const ent of entries) {
    if (ent.isSymbolicLink() || TEMP.test(ent.name)) continue;
    const key = keyBase + ent.name;
    if (ent.isDirectory()) {
      const folder = `${key}/`;
      if (folder.startsWith(prefix) || prefix.startsWith(folder))
        yield* walk(join(dir, ent.name), folder, prefix);
    } else if (ent.isFile() && key.startsWith(prefix)) {
      const st = await lstatOrNull(join(dir, ent.name));
      if (st?.isFile()) yield { key, size: st.size };
    }
  }
}

/** A Web stream over an open file; the file is closed at the end, on error and on cancel. */
function fileStream(fh: FileHandle): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const buf = new Uint8Array(CHUNK);
        const { bytesRead } = await fh.read(buf, 0, CHUNK, null);
        if (bytesRead === 0) {
          await fh.close();
          controller.close();
        } else {
          controller.enqueue(buf.subarray(0, bytesRead));
        }
      } catch (err) {
        await fh.close().catch(() => {});
        controller.error(err);
      }
    },
    async cancel() {
      await fh.close().catch(() => {});
    },
  });
}

async function writeAll(fh: FileHandle, data: Uint8Array): Promise<void> {
  for (let at = 0; at < data.byteLength;) {
    const { bytesWritten } = await fh.write(data, at, data.byteLength - at);
    at += bytesWritten;
  }
}

/** Makes a rename durable; folders cannot be opened for fsync everywhere (Windows), so failures are ignored. */
async function syncFolder(dir: string): Promise<void> {
  const fh = await open(dir, 'r').catch(() => null);
  if (!fh) return;
  await fh.sync().catch(() => {});
  await fh.close().catch(() => {});
}

async function lstatOrNull(path: string) {
  try {
    return await lstat(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw err;
  }
}

async function io<T>(op: string, key: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw ioError(op, key, err);
  }
}

function isErrno(err: unknown): boolean {
  return err instanceof Error && typeof (err as NodeJS.ErrnoException).code === 'string';
}

/** Disk full and out-of-descriptors are ERR_UNAVAILABLE (try later); other I/O errors ERR_INTERNAL. */
function ioError(op: string, key: string, err: unknown): unknown {
  if (err instanceof KilnError || !isErrno(err)) return err;
  const code = (err as NodeJS.ErrnoException).code ?? '';
  const busy = ['ENOSPC', 'EDQUOT', 'EMFILE', 'ENFILE', 'EIO', 'EAGAIN', 'EBUSY'].includes(code);
  return new KilnError(
    busy ? 'ERR_UNAVAILABLE' : 'ERR_INTERNAL',
    `local store: ${op} ${key}: ${(err as Error).message}`,
    {
      cause: err,
    },
  );
}

function linkRefused(key: string): KilnError {
  return new KilnError(
    'ERR_FORBIDDEN',
    `local store: ${key} goes through a symbolic link; links are never followed`,
  );
}

function sizeMismatch(key: string, declared: number, actual: number): KilnError {
  return new KilnError(
    'ERR_BAD_REQUEST',
    `put ${key}: declared size ${declared} but got ${actual} bytes or more`,
  );
}
