/**
 * Materialises a content-addressed input tree: the manifest is fetched and verified, every path
 * is checked again (relative, no "..", never through a link or a file, links stay inside), and each
 * file comes from this builder's blob cache or, once per host, from the store (digest verified).
 */
import { createHash } from 'node:crypto';
import { copyFile, mkdir, rename, rm, stat, symlink, chmod } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { KilnError } from '../../protocol/errors.ts';
import { discardIfCorrupt } from './corrupt-blob.ts';
import { downloadVerified } from './download.ts';
import { cutOff, retryStore } from './store-retry.ts';
import type { BlobRef } from '../../protocol/job.ts';
import { manifestSchema, type ManifestEntry } from '../../protocol/manifest.ts';
import { blobKey } from '../../protocol/store-keys.ts';
import { formatIssues } from '../../protocol/validate.ts';
import type { BlobStore } from '../../storage/port.ts';
import { checkEntryPath, symlinkTargetProblem } from '../../archive/entry-path.ts';

/** Limits of one input tree. */
export interface TreeLimits {
  /** @default 200000 */
  maxEntries: number;
  /** Total bytes of all files. @default 8 GiB */
  maxBytes: number;
}
const DEFAULTS: TreeLimits = { maxEntries: 200_000, maxBytes: 8 * 1024 ** 3 };

/** A small blob read whole (the manifest), asked again through a store outage. */
async function readWhole(store: BlobStore, key: string, digest: string): Promise<Uint8Array> {
  return retryStore(`blob ${digest}`, async () => {
    const body = await store.get(key);
    if (!body)
      throw new KilnError('ERR_BLOBS_MISSING', `blob ${digest} is not in the store`, {
        detail: { missing: [digest] },
      });
    try {
      return new Uint8Array(await new Response(body).arrayBuffer());
    } catch (err) {
      throw cutOff(`blob ${digest}`, err);
    }
  });
}

async function readBlob(store: BlobStore, key: string, ref: { digest: string }): Promise<Uint8Array> {
  const bytes = await readWhole(store, key, ref.digest);
  const got = createHash('sha256').update(bytes).digest('hex');
  if (got !== ref.digest) {
    const bad = new KilnError(
      'ERR_DIGEST_MISMATCH',
      `blob ${ref.digest} is corrupt in the store (got ${got})`,
    );
    throw await discardIfCorrupt(store, key, ref.digest, bad);
  }
  return bytes;
}

function invalid(path: string, why: string): KilnError {
  return new KilnError('ERR_ARCHIVE_INVALID', `input tree entry ${JSON.stringify(path)} ${why}`);
}

/** Checks every entry against the tree rules; returns them with their normalised paths. */
export function checkEntries(entries: ManifestEntry[], limits: TreeLimits = DEFAULTS): ManifestEntry[] {
  if (entries.length > limits.maxEntries)
    throw new KilnError('ERR_ARCHIVE_INVALID', `input tree has over ${limits.maxEntries} entries`);
  const kinds = new Map<string, ManifestEntry['type']>();
  let bytes = 0;
  const out: ManifestEntry[] = [];
  for (const e of entries) {
    const c = checkEntryPath(e.path);
    if (c.problem !== undefined) throw invalid(e.path, c.problem);
    const path = c.segments.join('/');
    if (path === '') throw invalid(e.path, 'is the tree root');
    for (let i = 1; i < c.segments.length; i++) {
      const parent = c.segments.slice(0, i).join('/');
      const kind = kinds.get(parent);
      if (kind && kind !== 'dir') throw invalid(e.path, `goes through a ${kind}`);
      kinds.set(parent, 'dir');
    }
    if (kinds.has(path)) throw invalid(e.path, 'appears twice');
    kinds.set(path, e.type);
    if (e.type === 'symlink') {
      const why = symlinkTargetProblem(e.target, c.segments);
      if (why) throw invalid(e.path, `is a link that ${why}`);
    }
    if (e.type === 'file') {
      bytes += e.size;
      if (bytes > limits.maxBytes)
        throw new KilnError('ERR_ARCHIVE_INVALID', `input tree is over ${limits.maxBytes} bytes`);
    }
    out.push({ ...e, path });
  }
  return out;
}

export interface BlobCache {
  /**
   * A host path holding the blob's verified bytes (fetched once per host, streamed to disk).
   * @throws KilnError ERR_ARCHIVE_INVALID when the blob is not `size` bytes (a manifest that
   * under-declares sizes to slip past the tree limit), before anything is downloaded.
   */
  path(tenant: string, digest: string, size: number): Promise<string>;
}

/** A per-host cache of verified file blobs under `dir`, single-flight per digest. */
export function createBlobCache(store: BlobStore, dir: string): BlobCache {
  const inflight = new Map<string, Promise<string>>();
  return {
    async path(tenant, digest, size) {
      const wrong = (actual: number): KilnError =>
        new KilnError(
          'ERR_ARCHIVE_INVALID',
          `an input file declares ${size} bytes but its blob ${digest.slice(0, 12)} has ${actual}`,
        );
      const key = `${encodeURIComponent(tenant)}/${digest}`;
      let p = inflight.get(key);
      if (!p) {
        p = (async () => {
          const file = join(dir, encodeURIComponent(tenant), digest);
          if (await stat(file).catch(() => null)) return file;
          const storeKey = blobKey(tenant, digest);
          const st = await store.stat(storeKey);
          if (st && st.size !== size) throw wrong(st.size);
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
            await rename(tmp, file);
          } finally {
            await rm(tmp, { force: true });
          }
          return file;
        })().finally(() => inflight.delete(key));
        inflight.set(key, p);
      }
      const file = await p;
      const actual = (await stat(file)).size;
      if (actual !== size) throw wrong(actual);
      return file;
    },
  };
}

/** Creates `dest` (which must not exist) with the tree of the manifest blob `ref`. */
export async function materializeTree(
  store: BlobStore,
  cache: BlobCache,
  tenant: string,
  ref: BlobRef,
  dest: string,
  limits: TreeLimits = DEFAULTS,
): Promise<{ files: number; bytes: number }> {
  const raw = await readBlob(store, blobKey(tenant, ref.digest), ref);
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder().decode(raw));
  } catch {
    throw new KilnError('ERR_ARCHIVE_INVALID', 'the input manifest is not JSON');
  }
  const r = manifestSchema.safeParse(parsed);
  if (!r.success)
    throw new KilnError(
      'ERR_ARCHIVE_INVALID',
      `invalid input manifest: ${formatIssues(r.error.issues).slice(0, 5).join('; ')}`,
    );
  const entries = checkEntries(r.data.entries, limits);
  await mkdir(dest, { recursive: false });
  try {
    let bytes = 0;
    let files = 0;
    const queue = entries.filter((e) => e.type === 'file');
    for (const e of entries) {
      if (e.type === 'dir') await mkdir(join(dest, e.path), { recursive: true });
      else await mkdir(dirname(join(dest, e.path)), { recursive: true });
    }
    const worker = async (): Promise<void> => {
      for (let e = queue.shift(); e; e = queue.shift()) {
        if (e.type !== 'file') continue;
        const target = join(dest, e.path);
        await copyFile(await cache.path(tenant, e.digest, e.size), target);
        await chmod(target, e.executable ? 0o755 : 0o644);
        bytes += e.size;
        files++;
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    for (const e of entries) if (e.type === 'symlink') await symlink(e.target, join(dest, e.path));
    return { files, bytes };
  } catch (err) {
    await rm(dest, { recursive: true, force: true });
    throw err;
  }
}
