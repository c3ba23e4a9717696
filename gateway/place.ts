/** Placement with a bounded wait: retry while every builder is busy, then 503 + Retry-After. */
import { KilnError } from '../protocol/errors.ts';
import type { FarmState } from '../protocol/gateway-port.ts';

/**
 * Reserves a slot for `jobId`; waits up to `waitMs` for capacity. `first` makes the first try
 * (one that admits the job in the same step: gateway/admit.ts admitAndPlaceJob); the retries
 * are FarmState.placeJob.
 */
export async function placeWithWait(
  farm: FarmState,
  jobId: string,
  platform: string,
  toolchain: string,
  waitMs: number,
  /** The creation guard's due time (ms), set with the slot (FarmState.placeJob). */
  guardDueAt?: number,
  first?: () => Promise<string>,
): Promise<string> {
  const deadline = Date.now() + waitMs;
  let delay = 25;
  let attempt = first;
  for (;;) {
    try {
      const placing = attempt ?? (() => farm.placeJob(jobId, platform, toolchain, guardDueAt));
      attempt = undefined;
      return await placing();
    } catch (err) {
      if (!(err instanceof KilnError) || err.code !== 'ERR_NO_CAPACITY' || Date.now() + delay > deadline)
        throw err;
    }
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 500);
  }
}
