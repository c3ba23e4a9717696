/**
 * Retries of idempotent calls: a gateway restart, a load balancer with no healthy backend or a
 * Redis outage (503 + Retry-After) is waited out with exponential backoff and jitter, within a
 * time budget, instead of failing the command. Only calls that are safe to repeat go through here.
 */
import { FarmError } from './errors.ts';

/** What a retried call needs: a budget and, for Ctrl-C, a signal. */
export interface RetryPolicy {
  /** Give up (rethrowing the last error) after this long. @default 60000 */
  budgetMs?: number;
  signal?: AbortSignal;
  /** Called before each wait (for a "gateway unavailable, retrying" notice). */
  onRetry?(err: Error, delayMs: number): void;
}

/**
 * True for failures that may pass: no answer at all (ERR_UNREACHABLE, ERR_TIMEOUT, a cut
 * connection) or an answer of 502, 503 or 504 (a restarting gateway, a proxy with no backend).
 */
export function isTransient(err: unknown): boolean {
  if (!(err instanceof FarmError)) return false;
  if (err.code === 'ERR_UNREACHABLE' || err.code === 'ERR_TIMEOUT') return true;
  return err.httpStatus === 502 || err.httpStatus === 503 || err.httpStatus === 504;
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
      const asked = (err as FarmError).retryAfter;
      const wait = Math.min(asked !== undefined ? asked * 1000 : delay * (0.5 + Math.random()), 10_000);
      if (Date.now() + wait > deadline) throw err;
      p.onRetry?.(err as Error, wait);
      await sleep(wait, p.signal);
      delay = Math.min(delay * 2, 5000);
    }
  }
}
