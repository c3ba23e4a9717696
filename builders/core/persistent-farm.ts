/**
 * A builder's farm calls that must land: a job's claim, log, result, slot and acknowledgement are
 * retried through a Redis outage (with backoff) until they succeed, fail for a coded reason (the
 * attempt was superseded, the job is gone: a KilnError), or `signal` ends them (the builder stops
 * for good). Without this a result written while Redis was down was lost, the job stayed
 * `running` and its slot leaked.
 */
import { KilnError } from '../../protocol/errors.ts';
import type { BuilderFarm } from '../../protocol/builder-port.ts';

/** The operations of a job's life on a builder: each retried until it lands. */
const PERSISTENT = new Set<keyof BuilderFarm>([
  'readJob',
  'claim',
  'appendLog',
  'complete',
  'releaseSlot',
  'handBack',
  'ack',
  'finish',
]);

/** Wraps `farm` so {@link PERSISTENT} operations retry transient failures; others pass through. */
export function persistentFarm(
  farm: BuilderFarm,
  signal: AbortSignal,
  log: (m: string) => void,
): BuilderFarm {
  const retry = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    let delay = 100;
    let told = 0;
    for (;;) {
      try {
        return await fn();
      } catch (err) {
        if (err instanceof KilnError || signal.aborted) throw err;
        if (Date.now() - told > 5000) {
          told = Date.now();
          log(`${what} failed (${(err as Error).message}); retrying until Redis answers`);
        }
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 2000);
      }
    }
  };
  return new Proxy(farm, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function' || !PERSISTENT.has(prop as keyof BuilderFarm)) return v;
      return (...args: unknown[]) =>
        retry(String(prop), () => (v as (...a: unknown[]) => Promise<unknown>).apply(target, args));
    },
  });
}
