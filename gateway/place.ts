/** Placement with a bounded wait: retry while every builder is busy, then 503 + Retry-After. */
import { KilnError } from '../protocol/errors.ts';
import type { FarmState } from '../protocol/gateway-port.ts';

/** Reserves a slot for `jobId`; waits up to `waitMs` for capacity. */
export async function placeWithWait(
  farm: FarmState,
  jobId: string,
  platform: string,
  toolchain: string,
  waitMs: number,
  /** The creation guard's due time (ms), set with the slot (FarmState.placeJob). */
  guardDueAt?: number,
): Promise<string> {
  const deadline = Date.now() + waitMs;
  let delay = 25;
  for (;;) {
    try {
      return await farm.placeJob(jobId, platform, toolchain, guardDueAt);
    } catch (err) {
      if (!(err instanceof KilnError) || err.code !== 'ERR_NO_CAPACITY' || Date.now() + delay > deadline)
        throw err;
    }
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 500);
  }
}
