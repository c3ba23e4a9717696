/**
 * A job's store calls on a builder wait out a short store outage: ERR_UNAVAILABLE (no answer, a
 * 5xx, throttling, an answer cut off mid-body) is retried with backoff for up to
 * {@link STORE_PATIENCE_MS}; after that the job fails with ERR_UNAVAILABLE naming what it was
 * moving. Every other error (missing, corrupt, a full work disk) passes at once. Without this a
 * store restart failed every job that was fetching an input at that moment (ERR_INTERNAL "aborted").
 */
import { KilnError } from '../../protocol/errors.ts';
import type { BlobStore } from '../../storage/port.ts';

/** How long a job's store call keeps trying through an outage. @default 60 s */
export const STORE_PATIENCE_MS = 60_000;

const transient = (err: unknown): boolean => err instanceof KilnError && err.code === 'ERR_UNAVAILABLE';

/** Runs `fn` (which must start its transfer afresh each time) until it lands or the outage outlasts `budgetMs`. */
export async function retryStore<T>(
  what: string,
  fn: () => Promise<T>,
  budgetMs = STORE_PATIENCE_MS,
): Promise<T> {
  const deadline = Date.now() + budgetMs;
  let delay = 100;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (!transient(err)) throw err;
      if (Date.now() + delay > deadline) {
        throw new KilnError(
          'ERR_UNAVAILABLE',
          `the blob store did not answer for ${Math.round(budgetMs / 1000)} s (${what}): ${(err as Error).message}`,
          { cause: err, retryAfter: 1 },
        );
      }
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 2000);
    }
  }
}

/** The store's answer for `what` broke off mid-body (the store went away): try again later. */
export function cutOff(what: string, err: unknown): KilnError {
  if (err instanceof KilnError) return err;
  return new KilnError(
    'ERR_UNAVAILABLE',
    `the store's answer for ${what} was cut off (${(err as Error).message})`,
    {
      cause: err,
      retryAfter: 1,
    },
  );
}

/**
 * `store` whose calls that can simply be asked again (stat, delete, a put of bytes in memory, list)
 * wait out an outage. `get` and a streamed put pass through: their callers retry the whole
 * transfer (downloadVerified, collectOutputs), since a body once read cannot be sent again.
 */
export function patientStore(store: BlobStore): BlobStore {
  return {
    kind: store.kind,
    stat: (key) => retryStore(`stat ${key}`, () => store.stat(key)),
    get: (key) => store.get(key),
    put: (key, body, size) =>
      body instanceof Uint8Array
        ? retryStore(`put ${key}`, () => store.put(key, body, size))
        : store.put(key, body, size),
    delete: (key) => retryStore(`delete ${key}`, () => store.delete(key)),
    list: (prefix) => store.list(prefix),
    presignPut: (key, opts) => store.presignPut(key, opts),
    presignGet: (key, opts) => store.presignGet(key, opts),
  };
}
