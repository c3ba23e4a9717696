/**
 * Compiles whose text is over the inline limit (large C++ translation units) go to the farm
 * through the blob store instead: the text becomes a file blob of a one-file tree manifest
 * (protocol/manifest.ts), both uploaded only when the farm lacks them, and the job names the
 * tree instead of carrying the text inline.
 */
import { createHash } from 'node:crypto';
import type { BlobRef } from '../../protocol/job.ts';
import type { Manifest } from '../../protocol/manifest.ts';
import { uploadMissing } from '../api.ts';
import type { Api } from '../http.ts';

/** Largest text sent inside the JSON body (base64 grows it by 4/3 within maxJsonBytes). @default 6 MiB */
export const INLINE_MAX = 6 << 20;
/** Most files a job carries inline (protocol/job.ts); more go through the blob store. */
export const INLINE_FILES = 64;
/** Largest text kiln cc distributes at all. @default 256 MiB */
export const TEXT_MAX = 256 << 20;

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** Uploads `files` (job-relative path → bytes) as a tree; returns the job's `tree` reference. */
export async function uploadTextTree(api: Api, files: [string, Uint8Array][]): Promise<BlobRef> {
  const blobs = files.map(([path, data]) => ({ path, data, digest: sha256(data) }));
  blobs.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const manifest: Manifest = {
    version: 1,
    entries: blobs.map((b) => ({
      type: 'file' as const,
      path: b.path,
      digest: b.digest,
      size: b.data.byteLength,
      executable: false,
    })),
  };
  const bytes = new TextEncoder().encode(JSON.stringify(manifest));
  const ref = { digest: sha256(bytes), size: bytes.byteLength };
  await uploadMissing(api, [
    { ...ref, read: async () => bytes },
    ...blobs.map((b) => ({ digest: b.digest, size: b.data.byteLength, read: async () => b.data })),
  ]);
  return ref;
}
