/**
 * Materialises a content-addressed input tree: the manifest is fetched and verified, every path
 * is checked again (relative, no "..", never through a link or a file, links stay inside), and each
 * file comes from this builder's blob cache (builders/core/blob-cache.ts), which fetches it once
 * per host from the store (digest verified).
 */
import { createHash } from 'node:crypto';
import { copyFile, lstat, mkdir, readdir, rm, symlink, chmod } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { KilnError } from '../../protocol/errors.ts';
import { discardIfCorrupt } from './corrupt-blob.ts';
import { cutOff, retryStore } from './store-retry.ts';
import type { BlobRef } from '../../protocol/job.ts';
import { manifestSchema, type ManifestEntry } from '../../protocol/manifest.ts';
import { blobKey } from '../../protocol/store-keys.ts';
import { formatIssues } from '../../protocol/validate.ts';
import type { BlobStore } from '../../storage/port.ts';
import type { BlobCache } from './blob-cache.ts';
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

export { createBlobCache, type BlobCache } from './blob-cache.ts';

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
  await mkdir(dest, { recursive: false }).catch(async (err: NodeJS.ErrnoException) => {
    // An empty directory made ready for it is fine (a job directory a sandbox already binds).
    const st = err.code === 'EEXIST' ? await lstat(dest).catch(() => null) : null;
    if (!st?.isDirectory() || (await readdir(dest)).length > 0) throw err;
  });
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
        await cache.use(tenant, e.digest, e.size, (from) => copyFile(from, target));
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
