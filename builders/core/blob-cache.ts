/**
 * The builder's blob cache: each input file blob a job needs is fetched from the store once per
 * host (with its tenant's store key, digest verified, streamed to disk) into
 * `<dir>/<tenant>/<sha256>` and copied into job directories from there. It is kept within
 * `maxBytes`: past it, blobs no job is using are removed, least recently used first, down to
 * `lowWaterBytes`. The last use survives restarts as the file's mtime.
 */
import { mkdir, readdir, rename, rm, stat, unlink, utimes } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { KilnError } from '../../protocol/errors.ts';
import { isDigest } from '../../protocol/digest.ts';
import { blobKey } from '../../protocol/store-keys.ts';
import type { BlobStore } from '../../storage/port.ts';
import { discardIfCorrupt } from './corrupt-blob.ts';
import { downloadVerified } from './download.ts';

const GiB = 1024 ** 3;

export interface BlobCache {
  /**
   * Runs `fn` with a host path holding the blob's verified bytes (fetched once per host); the blob
   * is not evicted while `fn` runs.
   * @throws KilnError ERR_ARCHIVE_INVALID when the blob is not `size` bytes (a manifest that
   * under-declares sizes to slip past the tree limit), before anything is downloaded.
   */
  use<T>(tenant: string, digest: string, size: number, fn: (path: string) => Promise<T>): Promise<T>;
  /** Bytes of the cached blobs. */
  usedBytes(): number;
}

export interface BlobCacheOptions {
  /** Bytes kept; past it, idle blobs are evicted. @default 10 GiB */
  maxBytes?: number;
  /** What an eviction brings the cache down to (the builder passes 80 % of maxBytes). @default maxBytes */
  lowWaterBytes?: number;
  /** @default a no-op */
  log?: (msg: string) => void;
}

interface Entry {
  file: string;
  bytes: number;
  refs: number;
  /** Order of last use (higher is more recent). */
  seq: number;
}

/** The blobs an earlier run left, oldest use first; partial downloads (`*.tmp`) are removed. */
async function scan(dir: string): Promise<{ key: string; file: string; bytes: number; mtime: number }[]> {
  const found: { key: string; file: string; bytes: number; mtime: number }[] = [];
  for (const t of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    if (!t.isDirectory()) continue;
    for (const name of await readdir(join(dir, t.name)).catch(() => [] as string[])) {
      const file = join(dir, t.name, name);
      if (name.endsWith('.tmp')) await rm(file, { force: true });
      if (!isDigest(name)) continue;
      const st = await stat(file).catch(() => null);
      if (st?.isFile()) found.push({ key: `${t.name}/${name}`, file, bytes: st.size, mtime: st.mtimeMs });
    }
  }
  return found.sort((a, b) => a.mtime - b.mtime);
}

/** A per-host cache of verified file blobs under `dir`, single-flight per blob. */
export function createBlobCache(store: BlobStore, dir: string, opts: BlobCacheOptions = {}): BlobCache {
  const maxBytes = opts.maxBytes ?? 10 * GiB;
  const lowWater = Math.min(opts.lowWaterBytes ?? maxBytes, maxBytes);
  const log = opts.log ?? (() => undefined);
  const entries = new Map<string, Entry>();
  const inflight = new Map<string, Promise<Entry>>();
  const removing = new Map<string, Promise<void>>();
  let used = 0;
  let seq = 0;
  const ready = scan(dir).then((found) => {
    for (const f of found) entries.set(f.key, { file: f.file, bytes: f.bytes, refs: 0, seq: ++seq });
    used = found.reduce((n, f) => n + f.bytes, 0);
    evict();
  });

  /** Removes idle blobs, least recently used first, until the cache is at its low-water mark. Synchronous choice. */
  function evict(): void {
    if (used <= maxBytes) return;
    let n = 0;
    let freed = 0;
    const idle = [...entries].filter(([, e]) => e.refs === 0).sort((a, b) => a[1].seq - b[1].seq);
    for (const [key, e] of idle) {
      if (used <= lowWater) break;
      entries.delete(key);
      used -= e.bytes;
      freed += e.bytes;
      n++;
      const gone = unlink(e.file)
        .catch(() => undefined)
        .finally(() => removing.delete(key));
      removing.set(key, gone);
    }
    if (n > 0) log(`blob cache: evicted ${n} blob(s), ${freed} bytes; ${used} bytes kept`);
    if (used > maxBytes) log(`blob cache: ${used} bytes in use by jobs, over the ${maxBytes}-byte limit`);
  }

  async function fetchOne(tenant: string, digest: string, size: number, key: string): Promise<Entry> {
    const file = join(dir, encodeURIComponent(tenant), digest);
    const storeKey = blobKey(tenant, digest);
    const st = await store.stat(storeKey);
    if (st && st.size !== size) throw sizeMismatch(size, digest, st.size);
    await mkdir(dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
    const missing = new KilnError('ERR_BLOBS_MISSING', `blob ${digest} is not in the store`, {
      detail: { missing: [digest] },
    });
    try {
      await downloadVerified(store, storeKey, digest, tmp, `input blob ${digest}`, missing).catch(
        async (err: unknown) => {
          throw await discardIfCorrupt(store, storeKey, digest, err);
        },
      );
      await removing.get(key); // an eviction of the same blob must be done with the old file
      await rename(tmp, file);
    } finally {
      await rm(tmp, { force: true });
    }
    const e: Entry = { file, bytes: (await stat(file)).size, refs: 0, seq: ++seq };
    entries.set(key, e);
    used += e.bytes;
    return e;
  }

  return {
    async use(tenant, digest, size, fn) {
      await ready;
      const key = `${encodeURIComponent(tenant)}/${digest}`;
      let e: Entry | undefined;
      for (;;) {
        e = entries.get(key);
        if (!e) {
          let p = inflight.get(key);
          if (!p) {
            p = fetchOne(tenant, digest, size, key).finally(() => inflight.delete(key));
            inflight.set(key, p);
          }
          e = await p;
        }
        if (entries.get(key) === e) break; // else evicted between its download and now: again
      }
      if (e.bytes !== size) throw sizeMismatch(size, digest, e.bytes);
      e.refs++;
      e.seq = ++seq;
      const now = new Date();
      void utimes(e.file, now, now).catch(() => undefined); // the last use, for the next start
      try {
        return await fn(e.file);
      } finally {
        e.refs--;
        evict();
      }
    },
    usedBytes: () => used,
  };
}

function sizeMismatch(size: number, digest: string, actual: number): KilnError {
  return new KilnError(
    'ERR_ARCHIVE_INVALID',
    `an input file declares ${size} bytes but its blob ${digest.slice(0, 12)} has ${actual}`,
  );
}
