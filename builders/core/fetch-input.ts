/** Downloads a job's input archive, verifies its digest, and unpacks it safely into the job directory. */
import { createReadStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { KilnError } from '../../protocol/errors.ts';
import type { BlobRef } from '../../protocol/job.ts';
import type { BlobStore } from '../../storage/port.ts';
import { extractTar } from '../../archive/extract.ts';
import { downloadVerified } from './download.ts';
import { discardIfCorrupt } from './corrupt-blob.ts';

/** Fetches `ref` from `key`, checks it is exactly those bytes, and extracts it into `dest`. */
export async function fetchInput(
  store: BlobStore,
  key: string,
  ref: BlobRef,
  tmpFile: string,
  dest: string,
): Promise<void> {
  const missing = new KilnError('ERR_BLOBS_MISSING', `input blob ${ref.digest} is not in the store`);
  try {
    await downloadVerified(store, key, ref.digest, tmpFile, `input blob ${ref.digest}`, missing).catch(
      async (err: unknown) => {
        throw await discardIfCorrupt(store, key, ref.digest, err);
      },
    );
    await extractTar(createReadStream(tmpFile), dest);
  } finally {
    await rm(tmpFile, { force: true });
  }
}
