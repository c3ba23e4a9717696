/**
 * Admission of a job creation against its tenant's quotas (gateway/limits-policy.ts): creations
 * per second and jobs in flight, both kept in Redis so every gateway counts the same. A job counts
 * from its admission — while it waits for a slot too, before it has a record — until it finishes;
 * a tenant at its cap has its finished jobs pruned once before the answer is 429, so no
 * bookkeeping on the builders is needed.
 */
import { KilnError } from '../protocol/errors.ts';
import type { FarmState } from '../protocol/gateway-port.ts';
import { TERMINAL_STATES } from '../protocol/job.ts';
import type { TenantPolicy } from './limits-policy.ts';

type AdmitFarm = Pick<FarmState, 'admitJob' | 'inFlight' | 'releaseInFlight' | 'getJob'>;
type AdmitPlaceFarm = AdmitFarm & Pick<FarmState, 'admitAndPlace' | 'placeJob'>;

/** Longer than any creation takes beyond its placement wait (inputs, cache lookup, record, enqueue). */
const CREATION_SLACK_MS = 30_000;

/**
 * How long an admitted job can count at most: the tenant's longest job on every attempt, plus its
 * creation. The same for every job of the tenant, so an entry's admission time is its expiry
 * minus this.
 */
function lifeMs(policy: TenantPolicy, maxAttempts: number, placementWaitMs: number): number {
  return (policy.max.timeoutSec + policy.max.graceSec) * 1000 * maxAttempts + placementWaitMs + 60_000;
}

/** Admits the job or throws ERR_RATE_LIMITED; `maxAttempts` bounds how long it can count. */
export async function admitJob(
  farm: AdmitFarm,
  tenant: string,
  jobId: string,
  policy: TenantPolicy,
  maxAttempts: number,
  placementWaitMs: number,
): Promise<void> {
  const quota = { createPerSec: policy.max.createPerSec, jobsInFlight: policy.max.jobsInFlight };
  const life = lifeMs(policy, maxAttempts, placementWaitMs);
  const now = Date.now();
  try {
    await farm.admitJob(tenant, jobId, quota, now + life);
  } catch (err) {
    if (!atCap(err)) throw err;
    await pruneOrThrow(farm, tenant, err, now, life, placementWaitMs);
    await farm.admitJob(tenant, jobId, quota, now + life);
  }
}

/**
 * {@link admitJob} and the job's first placement (FarmState.placeJob) in one step where the farm
 * can: for a creation with nothing to do between the two. Throws as admitJob does (nothing
 * placed), or as placeJob does (the job then stays admitted).
 */
export async function admitAndPlaceJob(
  farm: AdmitPlaceFarm,
  tenant: string,
  jobId: string,
  policy: TenantPolicy,
  maxAttempts: number,
  placementWaitMs: number,
  place: { platform: string; toolchain: string; guardDueAt?: number },
): Promise<string> {
  const quota = { createPerSec: policy.max.createPerSec, jobsInFlight: policy.max.jobsInFlight };
  const life = lifeMs(policy, maxAttempts, placementWaitMs);
  const now = Date.now();
  const { platform, toolchain, guardDueAt } = place;
  try {
    return await farm.admitAndPlace(tenant, jobId, quota, now + life, platform, toolchain, guardDueAt);
  } catch (err) {
    if (!atCap(err)) throw err;
    await pruneOrThrow(farm, tenant, err, now, life, placementWaitMs);
    await farm.admitJob(tenant, jobId, quota, now + life);
    return farm.placeJob(jobId, platform, toolchain, guardDueAt);
  }
}

/** The refusal of a tenant at its cap of jobs in flight (not of one over its rate). */
function atCap(err: unknown): err is KilnError {
  return err instanceof KilnError && /queued or running/.test(err.message);
}

/** Prunes the tenant's finished jobs from its count, or throws `err` when none had finished. */
async function pruneOrThrow(
  farm: AdmitFarm,
  tenant: string,
  err: KilnError,
  now: number,
  life: number,
  placementWaitMs: number,
): Promise<void> {
  const entries = await farm.inFlight(tenant);
  const states = await Promise.all(entries.map(async (e) => (await farm.getJob(e.id))?.state ?? null));
  // A job without a record is being created (placed) unless it was admitted longer ago than any
  // creation takes: then it was deleted, expired, or its gateway died.
  const creatingSince = now - placementWaitMs - CREATION_SLACK_MS;
  const done = entries
    .filter((e, i) => {
      const st = states[i];
      if (st !== null && st !== undefined) return TERMINAL_STATES.has(st);
      return e.untilMs - life < creatingSince;
    })
    .map((e) => e.id);
  if (done.length === 0) throw err;
  await farm.releaseInFlight(tenant, done);
}
