/**
 * Streams an uploaded toolchain archive into the store while hashing it, never holding it in
 * memory. Runtime-neutral (Web streams + @noble/hashes).
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { toHex } from '../../protocol/digest.ts';
import { KilnError } from '../../protocol/errors.ts';
import type { BlobStore } from '../../storage/port.ts';

/**
 * Puts `req`'s body under `key` if its SHA-256 is `digest` and it has at most `maxBytes` bytes;
 * returns its size.
 *
 * The check sits inside the stream the store reads: a body over the limit, or whose digest
 * differs (found when it ends), makes the stream fail before it ends, so the store's `put`
 * fails and — by the BlobStore contract (partial writes are never visible) — nothing appears
 * under `key`. Nothing is deleted afterwards: the key is content-addressed, so whatever is
 * there is a good copy someone else uploaded at the same time.
 *
 * Throws ERR_TOO_LARGE (413), ERR_DIGEST_MISMATCH (400), or ERR_BAD_REQUEST for a bad
 * Content-Length or a body shorter or longer than it.
 */
export async function receiveVerified(
  req: Request,
  store: BlobStore,
  key: string,
  digest: string,
  maxBytes: number,
): Promise<number> {
  const declared = req.headers.get('content-length');
  let size: number | undefined;
  if (declared !== null) {
    size = Number(declared);
    if (!/^\d+$/.test(declared.trim()) || !Number.isSafeInteger(size))
      throw new KilnError('ERR_BAD_REQUEST', `bad Content-Length ${JSON.stringify(declared)}`);
    if (size > maxBytes) throw tooLarge(maxBytes);
  }
  const hash = sha256.create();
  let total = 0;
  const state: { failure: KilnError | null } = { failure: null };
  const check = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      total += chunk.byteLength;
      if (total > maxBytes) {
        state.failure = tooLarge(maxBytes);
        throw state.failure;
      }
      hash.update(chunk);
      controller.enqueue(chunk);
    },
    flush() {
      const actual = toHex(hash.digest());
      if (actual !== digest) {
        state.failure = new KilnError(
          'ERR_DIGEST_MISMATCH',
          `the archive's SHA-256 is ${actual}, not ${digest}: nothing was stored`,
        );
        throw state.failure;
      }
    },
  });
  const body = req.body ?? new ReadableStream<Uint8Array>({ start: (c) => c.close() });
  try {
    await store.put(key, body.pipeThrough(check), size);
  } catch (err) {
    throw state.failure ?? err;
  }
  return total;
}

function tooLarge(max: number): KilnError {
  return new KilnError('ERR_TOO_LARGE', `toolchain archives are limited to ${max} bytes`);
}
