/**
 * Retries of idempotent calls: a gateway restart, a load balancer with no healthy backend or a
 * Redis outage (503 + Retry-After) is waited out with exponential backoff and jitter, within a
 * time budget, instead of failing the command. Only calls that are safe to repeat go through here.
 */

/** What a retried call needs: a budget and, for Ctrl-C, a signal. */
export interface RetryPolicy {
  /** Give up (rethrowing the last error) after this long. @default 60000 */
  budgetMs?: number;
  signal?: AbortSignal;
  /** Called before each wait (for a "gateway unavailable, retrying" notice). */
  onRetry?(err: Error, delayMs: number): void;
}

/** An error carrying the HTTP facts a retry decision needs (FarmError has them). */
interface HttpFacts {
  status?: number;
  retryAfter?: number | undefined;
}

/** True for failures that may pass: no answer at all, a cut connection, 502/503/504. */
export function isTransient(err: unknown): boolean {
  if (!(err instanceof Error) || err.name === 'AbortError') return false;
  const { status } = err as HttpFacts;
  if (status === 0 || status === 502 || status === 503 || status === 504) return true;
  // undici: a response body cut off mid-read ("terminated"), or no connection ("fetch failed").
  return err instanceof TypeError && /terminated|fetch failed|other side closed/i.test(err.message);
}

const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(signal?.reason as Error);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });

/** Runs `fn` until it succeeds, fails for good, or the budget is spent. */
export async function retrying<T>(fn: () => Promise<T>, p: RetryPolicy = {}): Promise<T> {
  const deadline = Date.now() + (p.budgetMs ?? 60_000);
  let delay = 200;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (!isTransient(err) || p.signal?.aborted) throw err;
      const asked = (err as HttpFacts).retryAfter;
      const wait = Math.min(asked !== undefined ? asked * 1000 : delay * (0.5 + Math.random()), 10_000);
      if (Date.now() + wait > deadline) throw err;
      p.onRetry?.(err as Error, wait);
      await sleep(wait, p.signal);
      delay = Math.min(delay * 2, 5000);
    }
  }
}
