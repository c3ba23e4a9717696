/**
 * Leases, not trust: builders whose lease expired are removed, and every unfinished job they held
 * is placed again (a new token for the new builder) up to `maxAttempts`, or failed. One gateway at a
 * time sweeps (a short Redis lock); any gateway may.
 */
import type { FarmState } from '../protocol/gateway-port.ts';
import { isFinished } from './job-view.ts';
import { issueJobToken } from './job-token.ts';
import type { KilnError } from '../protocol/errors.ts';
import type { Metrics } from './metrics.ts';

const LOST = {
  code: 'ERR_JOB_LOST',
  message: 'the builder running this job was lost and no attempt is left',
};

/**
 * Moves one job of a lost builder to another builder, or fails it. Answers false when it must be
 * tried again later: no slot is free now but an attempt is left and the job's time is not up.
 * Safe to repeat after a crash at any step: a slot the job still holds is given back first, and a
 * message of a superseded attempt is dropped by the builder (claims are compare-and-set).
 */
export async function replaceJob(
  farm: FarmState,
  jobId: string,
  maxAttempts: number,
  log: (m: string) => void,
  metrics?: Metrics,
): Promise<boolean> {
  const rec = await farm.getJob(jobId);
  if (!rec || isFinished(rec)) return true;
  await farm.releaseSlot(jobId, rec.bid);
  let newBid = '';
  if (rec.attempt < maxAttempts) {
    try {
      newBid = await farm.placeJob(jobId, rec.spec.platform, rec.spec.toolchain ?? '');
    } catch (err) {
      const deadline = Date.parse(rec.createdAt) + rec.spec.limits.timeoutSec * 1000;
      if ((err as KilnError).code === 'ERR_NO_CAPACITY' && Date.now() < deadline) return false;
    }
  }
  const attempt = await farm.requeueJob(jobId, rec.attempt, maxAttempts, newBid, LOST);
  if (attempt === null || attempt === 0) {
    if (newBid) await farm.releaseSlot(jobId, newBid);
    if (attempt === 0) {
      log(`job ${jobId} failed: builder ${rec.bid} lost on attempt ${rec.attempt}`);
      metrics?.inc('kiln_jobs_lost_total');
      await farm.appendLogMarker(jobId, 'end', rec.attempt);
      await farm.publishDone(jobId);
    }
    return true;
  }
  const token = await issueJobToken(farm, rec, newBid);
  await farm.appendLogMarker(jobId, 'restart', attempt);
  await farm.enqueue(newBid, { jobId, attempt, token });
  metrics?.inc('kiln_jobs_replaced_total');
  log(`job ${jobId} placed again on ${newBid} (attempt ${attempt}) after builder ${rec.bid} was lost`);
  return true;
}

export interface SweepOptions {
  maxAttempts: number;
  log(m: string): void;
  /** Counts re-placements, lost jobs and removed builders. */
  metrics?: Metrics;
  /** Test hook: called at named points of a sweep (fault-injection tests stop the process there). */
  faultPoint?(name: string): Promise<void>;
}

/**
 * Creation guards still there when due: the gateway that made the job died between placement and
 * enqueue. A job that never got its record gives its slot back; one still queued on its first
 * attempt may never have had its message sent, so it goes to the "to place again" set.
 */
async function recoverCreations(farm: FarmState, o: SweepOptions): Promise<void> {
  for (const { platform, jobId } of await farm.dueCreations(Date.now(), 500)) {
    const rec = await farm.getJob(jobId);
    if (!rec) {
      const held = await farm.assignedTo(platform, jobId);
      if (held) await farm.releaseSlot(jobId, held);
      o.log(`job ${jobId}: its creation was cut off before its record; slot given back`);
    } else if (rec.state === 'queued' && rec.attempt === 1) {
      await farm.placeAgainLater(platform, jobId);
      o.log(`job ${jobId}: its creation was cut off before its message; placing it again`);
    }
    await farm.creationDone(platform, jobId);
  }
}

/**
 * One sweep: removes the builders whose lease ended (their jobs go into the farm's durable
 * "to place again" set in the same step), recovers creations cut off by a dead gateway, then
 * places again every job in that set — this sweep's, and any a gateway that died mid-sweep left
 * behind. Returns how many builders went.
 */
export async function sweepOnce(farm: FarmState, o: SweepOptions): Promise<number> {
  const removed = await farm.expireBuilders(Date.now());
  for (const { bid, jobs } of removed)
    o.log(`builder ${bid} lost its lease; placing ${jobs.length} job(s) again`);
  if (removed.length > 0) {
    o.metrics?.inc('kiln_builders_removed_total', {}, removed.length);
    await o.faultPoint?.('sweep:after-remove');
  }
  await recoverCreations(farm, o);
  for (const { platform, jobId } of await farm.toPlaceAgain()) {
    try {
      if (await replaceJob(farm, jobId, o.maxAttempts, o.log, o.metrics))
        await farm.placedAgain(platform, jobId);
    } catch (err) {
      o.log(`re-placing job ${jobId} failed (tried again next sweep): ${String(err)}`);
    }
  }
  for (const { bid } of removed) await farm.dropBuilder(bid);
  return removed.length;
}

/** Sweeps every `periodMs` until stopped. */
export function startSweeper(farm: FarmState, opts: SweepOptions & { periodMs: number }): { stop(): void } {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    void (async () => {
      try {
        if (await farm.tryLock('sweep', opts.periodMs)) await sweepOnce(farm, opts);
      } catch (err) {
        opts.log(`sweep failed: ${String(err)}`);
      } finally {
        running = false;
      }
    })();
  }, opts.periodMs);
  return { stop: () => clearInterval(timer) };
}
