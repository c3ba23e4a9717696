/**
 * Leases, not trust: builders whose lease expired are removed, and every unfinished job they held
 * is placed again (a new token for the new builder) up to `maxAttempts`, or failed. One gateway at a
 * time sweeps (a short Redis lock); any gateway may.
 */
import type { FarmState } from '../protocol/gateway-port.ts';
import { isFinished } from './job-view.ts';
import { issueJobToken } from './job-token.ts';

const LOST = {
  code: 'ERR_JOB_LOST',
  message: 'the builder running this job was lost and no attempt is left',
};

/** Moves one job of a lost builder to another builder, or fails it. */
export async function replaceJob(
  farm: FarmState,
  jobId: string,
  maxAttempts: number,
  log: (m: string) => void,
): Promise<void> {
  const rec = await farm.getJob(jobId);
  if (!rec || isFinished(rec)) return;
  let newBid = '';
  if (rec.attempt < maxAttempts) {
    newBid = await farm.placeJob(jobId, rec.spec.platform, rec.spec.toolchain ?? '').catch(() => '');
  }
  const attempt = await farm.requeueJob(jobId, rec.attempt, maxAttempts, newBid, LOST);
  if (attempt === null || attempt === 0) {
    if (newBid) await farm.releaseSlot(jobId, newBid);
    if (attempt === 0) {
      log(`job ${jobId} failed: builder ${rec.bid} lost on attempt ${rec.attempt}`);
      await farm.appendLogMarker(jobId, 'end', rec.attempt);
      await farm.publishDone(jobId);
    }
    return;
  }
  const token = await issueJobToken(farm, rec, newBid);
  await farm.appendLogMarker(jobId, 'restart', attempt);
  await farm.enqueue(newBid, { jobId, attempt, token });
  log(`job ${jobId} placed again on ${newBid} (attempt ${attempt}) after builder ${rec.bid} was lost`);
}

/** One sweep; returns how many builders were removed. */
export async function sweepOnce(
  farm: FarmState,
  maxAttempts: number,
  log: (m: string) => void,
): Promise<number> {
  const removed = await farm.expireBuilders(Date.now());
  for (const { bid, jobs } of removed) {
    log(`builder ${bid} lost its lease; placing ${jobs.length} job(s) again`);
    for (const jobId of jobs) {
      await replaceJob(farm, jobId, maxAttempts, log).catch((err: unknown) =>
        log(`re-placing job ${jobId} failed: ${String(err)}`),
      );
    }
    await farm.dropBuilder(bid);
  }
  return removed.length;
}

/** Sweeps every `periodMs` until stopped. */
export function startSweeper(
  farm: FarmState,
  opts: { periodMs: number; maxAttempts: number; log: (m: string) => void },
): { stop(): void } {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    void (async () => {
      try {
        if (await farm.tryLock('sweep', opts.periodMs)) await sweepOnce(farm, opts.maxAttempts, opts.log);
      } catch (err) {
        opts.log(`sweep failed: ${String(err)}`);
      } finally {
        running = false;
      }
    })();
  }, opts.periodMs);
  return { stop: () => clearInterval(timer) };
}
