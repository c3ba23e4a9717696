/**
 * A blob whose bytes do not hash to its name is damaged in the store (a store that died mid-write,
 * a bit flip): the builder removes it, so the next `blobs/missing` reports it and the client
 * uploads it again, and the job fails as ERR_BLOBS_MISSING (run it again) rather than for good.
 */
import { KilnError } from '../../protocol/errors.ts';
import type { BlobStore } from '../../storage/port.ts';

/** Maps a digest mismatch of `key` to ERR_BLOBS_MISSING after deleting it; other errors pass through. */
export async function discardIfCorrupt(
  store: BlobStore,
  key: string,
  digest: string,
  err: unknown,
): Promise<unknown> {
  if (!(err instanceof KilnError) || err.code !== 'ERR_DIGEST_MISMATCH') return err;
  await store.delete(key).catch(() => undefined);
  return new KilnError(
    'ERR_BLOBS_MISSING',
    `input blob ${digest.slice(0, 12)} was corrupt in the store and has been removed: run the job again to upload it`,
    { cause: err, detail: { missing: [digest] } },
  );
}
