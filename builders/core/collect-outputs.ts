/** Packs a job's declared outputs (never following links out of the job) and stores them as a blob. */
import { createHash } from 'node:crypto';
import type { BlobRef } from '../../protocol/job.ts';
import type { BlobStore } from '../../storage/port.ts';
import { packTreeToBuffer } from '../../archive/pack.ts';

export interface CollectedOutputs {
  outputs: BlobRef | null;
  missing: string[];
}

/** Stores the tar of `paths` under the job directory at `keyOf(digest)`; null when nothing was declared. */
export async function collectOutputs(
  store: BlobStore,
  jobDir: string,
  paths: string[],
  keyOf: (digest: string) => string,
): Promise<CollectedOutputs> {
  if (paths.length === 0) return { outputs: null, missing: [] };
  const { bytes, missing } = await packTreeToBuffer(jobDir, paths);
  const digest = createHash('sha256').update(bytes).digest('hex');
  const key = keyOf(digest);
  if (!(await store.stat(key))) await store.put(key, bytes, bytes.byteLength);
  return { outputs: { digest, size: bytes.byteLength }, missing };
}
