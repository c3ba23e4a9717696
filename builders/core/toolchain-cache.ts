/**
 * The builder's toolchain cache: each toolchain is downloaded once per host, verified against its
 * digest, unpacked safely and kept, least recently used first out, within a size limit (past it,
 * idle toolchains go until the cache is at its low-water mark; one in use never goes).
 *
 * Layout of `dir` (one folder per toolchain, published by one rename, so a crash never leaves a
 * half toolchain that looks whole):
 *   <sha256>/root/       the unpacked archive: the sandbox's read-only root
 *   <sha256>/meta.json   { digest, bytes, entries, archiveBytes }; its mtime is the last use
 *   .tmp-<hex>/          a download or unpack in progress (removed at start)
 *   .trash-<hex>/        an evicted toolchain being removed (removed at start)
 */
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, mkdir, readFile, readdir, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { downloadVerified } from './download.ts';
import { extractTar } from '../../archive/extract.ts';
import type { ArchiveLimits } from '../../archive/limits.ts';
import { isDigest } from '../../protocol/digest.ts';
import { KilnError } from '../../protocol/errors.ts';
import { toolchainKey } from '../../protocol/store-keys.ts';
import type { BlobStore } from '../../storage/port.ts';

const GiB = 1024 ** 3;

/** Archive limits for toolchains: bigger than for job inputs (compilers are large trees). */
export const TOOLCHAIN_ARCHIVE_LIMITS: Partial<ArchiveLimits> = {
  maxEntries: 1_000_000,
  maxBytes: 16 * GiB,
  maxEntryBytes: 4 * GiB,
};

export interface ToolchainCacheOptions {
  /** Where toolchains are read from (`toolchains/<sha256>`). */
  store: BlobStore;
  /** The cache folder (created if missing); it must be on one filesystem and used by one builder. */
  dir: string;
  /** Unpacked bytes kept; past it, toolchains not in use are evicted, least recently used first. @default 10 GiB */
  maxBytes?: number;
  /** What an eviction brings the cache down to (the builder passes 80 % of maxBytes). @default maxBytes */
  lowWaterBytes?: number;
  /** @default a no-op */
  log?: (msg: string) => void;
  /** Overrides of {@link TOOLCHAIN_ARCHIVE_LIMITS}. @default {} */
  limits?: Partial<ArchiveLimits>;
}

/** A toolchain held for one job: it is not evicted until `release()` (which is idempotent). */
export interface ToolchainLease {
  /** The unpacked archive (the sandbox's root). */
  root: string;
  release(): void;
}

export interface ToolchainCache {
  /**
   * The unpacked toolchain `digest`, fetched from the store if needed (once, however many
   * callers ask at the same time). Rejects with ERR_DIGEST_MISMATCH when the store's bytes do
   * not hash to `digest`, ERR_NOT_FOUND when it is not in the store, ERR_ARCHIVE_INVALID when
   * the archive is unsafe; nothing is cached then, and the next call tries again.
   */
  acquire(digest: string): Promise<ToolchainLease>;
  /** Digests of the toolchains ready on this host, most recently used first (for the heartbeat). */
  warm(): string[];
  /** Unpacked bytes of the cached toolchains. */
  usedBytes(): number;
}

interface Entry {
  digest: string;
  bytes: number;
  refs: number;
  /** Order of last use (higher is more recent). */
  seq: number;
}

interface Flight {
  /** Callers waiting for this download; they all hold the entry once it is published. */
  waiters: number;
  promise: Promise<Entry>;
}

interface Meta {
  digest: string;
  bytes: number;
  entries: number;
  archiveBytes: number;
}

/** Opens the cache in `dir`, keeping the toolchains a previous run left there. */
export async function createToolchainCache(opts: ToolchainCacheOptions): Promise<ToolchainCache> {
  const { store, dir } = opts;
  const maxBytes = opts.maxBytes ?? 10 * GiB;
  const lowWater = Math.min(opts.lowWaterBytes ?? maxBytes, maxBytes);
  const log = opts.log ?? (() => undefined);
  const limits = { ...TOOLCHAIN_ARCHIVE_LIMITS, ...opts.limits };
  const entries = new Map<string, Entry>();
  const inflight = new Map<string, Flight>();
  const removing = new Map<string, Promise<void>>();
  let used = 0;
  let seq = 0;

  await mkdir(dir, { recursive: true });
  for (const found of await scan(dir, log)) {
    entries.set(found.digest, { digest: found.digest, bytes: found.bytes, refs: 0, seq: ++seq });
    used += found.bytes;
  }
  if (entries.size > 0) log(`toolchain cache: ${entries.size} toolchain(s), ${used} bytes kept from before`);

  /** Marks a use in memory; on acquire it is also written to disk (meta.json's mtime) for the next start. */
  const touch = (e: Entry): void => {
    e.seq = ++seq;
  };
  const persistUse = async (e: Entry): Promise<void> => {
    const now = new Date();
    await utimes(join(dir, e.digest, 'meta.json'), now, now).catch(() => undefined);
  };

  /** Past the limit, evicts idle toolchains, least recently used first, down to the low-water mark. Chooses synchronously. */
  const evict = (): void => {
    if (used <= maxBytes) return;
    const idle = [...entries.values()].filter((e) => e.refs === 0).sort((a, b) => a.seq - b.seq);
    for (const e of idle) {
      if (used <= lowWater) break;
      entries.delete(e.digest);
      used -= e.bytes;
      log(`toolchain cache: evicting ${e.digest} (${e.bytes} bytes)`);
      const gone = removeEntry(dir, e.digest)
        .catch((err: unknown) => log(`toolchain cache: removing ${e.digest}: ${(err as Error).message}`))
        .finally(() => removing.delete(e.digest));
      removing.set(e.digest, gone);
    }
    if (used > maxBytes)
      log(`toolchain cache: ${used} bytes in use, over the ${maxBytes}-byte limit until released`);
  };

  const lease = (e: Entry): ToolchainLease => {
    touch(e);
    let released = false;
    return {
      root: join(dir, e.digest, 'root'),
      release() {
        if (released) return;
        released = true;
        e.refs--;
        touch(e);
        evict();
      },
    };
  };

  evict(); // the limit may have shrunk since the last run

  const fetchOne = async (digest: string, flight: Flight): Promise<Entry> => {
    const tmp = join(dir, `.tmp-${randomBytes(8).toString('hex')}`);
    await mkdir(tmp);
    try {
      const meta = await download(store, digest, tmp, limits);
      await writeFile(join(tmp, 'meta.json'), JSON.stringify(meta));
      await removing.get(digest); // an eviction of the same digest must finish its rename first
      await rename(tmp, join(dir, digest));
      const e: Entry = { digest, bytes: meta.bytes, refs: flight.waiters, seq: ++seq };
      entries.set(digest, e);
      used += e.bytes;
      log(`toolchain cache: fetched ${digest} (${meta.archiveBytes} bytes, ${meta.bytes} unpacked)`);
      evict();
      return e;
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      throw err;
    }
  };

  return {
    async acquire(digest) {
      if (!isDigest(digest))
        throw new KilnError('ERR_VALIDATION', `bad toolchain digest ${JSON.stringify(digest)}`);
      const hit = entries.get(digest);
      if (hit) {
        hit.refs++;
        const held = lease(hit);
        await persistUse(hit);
        return held;
      }
      let flight = inflight.get(digest);
      if (!flight) {
        const f = { waiters: 0 } as Flight;
        f.promise = fetchOne(digest, f).finally(() => inflight.delete(digest));
        inflight.set(digest, (flight = f));
      }
      flight.waiters++;
      return lease(await flight.promise); // the entry was published with every waiter counted
    },
    warm() {
      return [...entries.values()].sort((a, b) => b.seq - a.seq).map((e) => e.digest);
    },
    usedBytes() {
      return used;
    },
  };
}

/** Downloads `toolchains/<digest>` into `tmp/archive`, checks its digest, and unpacks it into `tmp/root`. */
async function download(
  store: BlobStore,
  digest: string,
  tmp: string,
  limits: Partial<ArchiveLimits>,
): Promise<Meta> {
  const archive = join(tmp, 'archive');
  const missing = new KilnError('ERR_NOT_FOUND', `toolchain ${digest} is not in the store: push it again`);
  const archiveBytes = await downloadVerified(
    store,
    toolchainKey(digest),
    digest,
    archive,
    `toolchain ${digest}`,
    missing,
  );
  try {
    const r = await extractTar(createReadStream(archive), join(tmp, 'root'), limits);
    return { digest, bytes: r.bytes, entries: r.entries, archiveBytes };
  } catch (err) {
    if (err instanceof KilnError)
      throw new KilnError(err.code, `toolchain ${digest}: ${err.message}`, { cause: err });
    throw err;
  } finally {
    await rm(archive, { force: true });
  }
}

/** Moves a toolchain out of the way (one rename), then deletes it. */
async function removeEntry(dir: string, digest: string): Promise<void> {
  const trash = join(dir, `.trash-${randomBytes(8).toString('hex')}`);
  await rename(join(dir, digest), trash);
  await rm(trash, { recursive: true, force: true });
}

/** Toolchains left by an earlier run, least recently used first; leftovers of interrupted work are removed. */
async function scan(dir: string, log: (m: string) => void): Promise<{ digest: string; bytes: number }[]> {
  const found: { digest: string; bytes: number; mtime: number }[] = [];
  for (const name of await readdir(dir)) {
    const path = join(dir, name);
    if (name.startsWith('.tmp-') || name.startsWith('.trash-')) {
      await rm(path, { recursive: true, force: true });
      continue;
    }
    if (!isDigest(name)) continue; // not ours: left alone
    const meta = await readMeta(path, name);
    if (!meta) {
      log(`toolchain cache: removing incomplete ${name}`);
      await rm(path, { recursive: true, force: true });
      continue;
    }
    found.push({ digest: name, bytes: meta.bytes, mtime: meta.mtime });
  }
  return found.sort((a, b) => a.mtime - b.mtime);
}

async function readMeta(path: string, digest: string): Promise<{ bytes: number; mtime: number } | null> {
  try {
    const st = await lstat(path);
    const root = await lstat(join(path, 'root'));
    if (!st.isDirectory() || !root.isDirectory()) return null;
    const file = join(path, 'meta.json');
    const meta = JSON.parse(await readFile(file, 'utf8')) as Partial<Meta>;
    if (meta.digest !== digest || typeof meta.bytes !== 'number' || meta.bytes < 0) return null;
    return { bytes: meta.bytes, mtime: (await stat(file)).mtimeMs };
  } catch {
    return null;
  }
}
