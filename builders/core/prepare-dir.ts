/** Fills a job directory: the input tree (manifest or tar), then the inline files. */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { JobSpec } from '../../protocol/job.ts';
import { blobKey } from '../../protocol/store-keys.ts';
import type { BlobStore } from '../../storage/port.ts';
import { fetchInput } from './fetch-input.ts';
import { writeInlineFiles } from './inline-io.ts';
import { materializeTree, type BlobCache } from './materialize.ts';

/** Creates `root` (inside `dir`; or fills it when it exists, empty) with everything the job reads. */
export async function prepareJobRoot(
  store: BlobStore,
  blobs: BlobCache,
  tenant: string,
  spec: JobSpec,
  dir: string,
  root: string,
): Promise<void> {
  // Synchronous: making a directory or two costs less than a thread-pool round trip each.
  mkdirSync(dir, { recursive: true });
  if (spec.tree) await materializeTree(store, blobs, tenant, spec.tree, root);
  else if (spec.input)
    await fetchInput(store, blobKey(tenant, spec.input.digest), spec.input, join(dir, 'input.tar'), root);
  else mkdirSync(root, { recursive: true }); // it may exist, empty: made ready ahead (JobDisk.root)
  if (spec.inline) await writeInlineFiles(root, spec.inline);
}
