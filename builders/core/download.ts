/**
 * Streams a store object to a file while hashing it; throws unless it has the expected digest.
 * A store that is down or whose answer breaks off is asked again from the start (store-retry.ts).
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as NodeWebStream } from 'node:stream/web';
import { KilnError } from '../../protocol/errors.ts';
import type { BlobStore } from '../../storage/port.ts';
import { cutOff, retryStore } from './store-retry.ts';

/**
 * Downloads `key` to `file`; resolves with its size. `what` names the object in errors
 * ("input blob …", "toolchain …"); `missing` is the error when the store does not have it.
 */
export async function downloadVerified(
  store: BlobStore,
  key: string,
  digest: string,
  file: string,
  what: string,
  missing: KilnError,
): Promise<number> {
  return retryStore(what, () => downloadOnce(store, key, digest, file, what, missing));
}

async function downloadOnce(
  store: BlobStore,
  key: string,
  digest: string,
  file: string,
  what: string,
  missing: KilnError,
): Promise<number> {
  const body = await store.get(key);
  if (!body) throw missing;
  const hash = createHash('sha256');
  let size = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      size += chunk.length;
      cb(null, chunk);
    },
  });
  const dest = createWriteStream(file);
  let local: unknown;
  dest.once('error', (err) => (local = err));
  try {
    await pipeline(Readable.fromWeb(body as NodeWebStream<Uint8Array>), meter, dest);
  } catch (err) {
    // Writing the file failed (a full disk): that is ours. Anything else came from the store.
    if (local !== undefined) throw err;
    throw cutOff(what, err);
  }
  const actual = hash.digest('hex');
  if (actual !== digest) {
    throw new KilnError(
      'ERR_DIGEST_MISMATCH',
      `${what} is corrupt in the store (its ${size} bytes hash to ${actual}): push it again`,
    );
  }
  return size;
}
