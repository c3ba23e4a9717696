/** Downloads a job's input archive, verifies its digest, and unpacks it safely into the job directory. */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as NodeWebStream } from 'node:stream/web';
import { KilnError } from '../../protocol/errors.ts';
import type { BlobRef } from '../../protocol/job.ts';
import type { BlobStore } from '../../storage/port.ts';
import { extractTar } from '../../archive/extract.ts';

/** Fetches `ref` from `key`, checks it is exactly those bytes, and extracts it into `dest`. */
export async function fetchInput(
  store: BlobStore,
  key: string,
  ref: BlobRef,
  tmpFile: string,
  dest: string,
): Promise<void> {
  const body = await store.get(key);
  if (!body) throw new KilnError('ERR_BLOBS_MISSING', `input blob ${ref.digest} is not in the store`);
  const hash = createHash('sha256');
  let size = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      size += chunk.length;
      cb(null, chunk);
    },
  });
  try {
    await pipeline(Readable.fromWeb(body as NodeWebStream<Uint8Array>), meter, createWriteStream(tmpFile));
    const digest = hash.digest('hex');
    if (digest !== ref.digest || size !== ref.size) {
      throw new KilnError(
        'ERR_DIGEST_MISMATCH',
        `input blob is corrupt in the store (got ${digest}, ${size} bytes)`,
      );
    }
    await extractTar(createReadStream(tmpFile), dest);
  } finally {
    await rm(tmpFile, { force: true });
  }
}
