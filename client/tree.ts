/**
 * Builds the manifest of an input directory (one SHA-256 per file, streamed) and uploads what the
 * farm lacks: unchanged files are never uploaded twice. Links are kept only when they stay inside
 * the tree; anything else that is not a file or directory is left out and reported.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import type { Manifest, ManifestEntry } from '../protocol/manifest.ts';
import { checkEntryPath, symlinkTargetProblem } from '../archive/entry-path.ts';
import type { BlobRef } from '../protocol/job.ts';
import { uploadMissing } from './api.ts';
import type { Api } from './http.ts';

export interface BuiltTree {
  manifest: Manifest;
  /** digest → a host path holding those bytes. */
  files: Map<string, { path: string; size: number }>;
  skipped: string[];
}

function hashFile(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(path)
      .on('data', (c) => h.update(c))
      .on('error', reject)
      .on('end', () => resolve(h.digest('hex')));
  });
}

/** Walks `root` without following links and builds its manifest. */
export async function buildManifest(root: string): Promise<BuiltTree> {
  const entries: ManifestEntry[] = [];
  const files = new Map<string, { path: string; size: number }>();
  const skipped: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    const names = (await readdir(dir)).sort();
    for (const name of names) {
      const abs = join(dir, name);
      const rel = relative(root, abs).split(sep).join('/');
      if (checkEntryPath(rel).problem) {
        skipped.push(rel);
        continue;
      }
      const st = await lstat(abs);
      if (st.isDirectory()) {
        entries.push({ type: 'dir', path: rel });
        await walk(abs);
      } else if (st.isFile()) {
        const digest = await hashFile(abs);
        entries.push({ type: 'file', path: rel, digest, size: st.size, executable: (st.mode & 0o111) !== 0 });
        files.set(digest, { path: abs, size: st.size });
      } else if (st.isSymbolicLink()) {
        const target = await readlink(abs);
        if (symlinkTargetProblem(target, rel.split('/'))) skipped.push(rel);
        else entries.push({ type: 'symlink', path: rel, target });
      } else {
        skipped.push(rel);
      }
    }
  };
  await walk(root);
  return { manifest: { version: 1, entries }, files, skipped };
}

export interface UploadedTree {
  tree: BlobRef;
  /** Bytes sent to the farm (0 when it had everything). */
  uploadedBytes: number;
  uploadedBlobs: number;
  skipped: string[];
}

/** Uploads the manifest of `root` and the file blobs the farm lacks. */
export async function uploadTree(api: Api, root: string): Promise<UploadedTree> {
  const built = await buildManifest(root);
  const manifestBytes = new TextEncoder().encode(JSON.stringify(built.manifest));
  const manifestDigest = createHash('sha256').update(manifestBytes).digest('hex');
  const blobs = [
    { digest: manifestDigest, size: manifestBytes.byteLength, read: async () => manifestBytes },
    ...[...built.files].map(([digest, f]) => ({
      digest,
      size: f.size,
      read: async () => new Uint8Array(await readFile(f.path)),
    })),
  ];
  const sent = await uploadMissing(api, blobs);
  return {
    tree: { digest: manifestDigest, size: manifestBytes.byteLength },
    uploadedBytes: sent.bytes,
    uploadedBlobs: sent.blobs,
    skipped: built.skipped,
  };
}
