/**
 * Admission of a job creation against its tenant's quotas (gateway/limits-policy.ts): creations
 * per second and jobs in flight, both kept in Redis so every gateway counts the same. A job stops
 * counting when it finishes; a tenant at its cap has its finished jobs pruned once before the
 * answer is 429, so no bookkeeping on the builders is needed.
 */
import { KilnError } from '../protocol/errors.ts';
import type { Limits } from '../protocol/job.ts';
import type { FarmState } from '../protocol/gateway-port.ts';
import { TERMINAL_STATES } from '../protocol/job.ts';
import type { TenantPolicy } from './limits-policy.ts';

type AdmitFarm = Pick<FarmState, 'admitJob' | 'inFlight' | 'releaseInFlight' | 'getJob'>;

/** Admits the job or throws ERR_RATE_LIMITED; `maxAttempts` bounds how long it can count. */
export async function admitJob(
  farm: AdmitFarm,
  tenant: string,
  jobId: string,
  policy: TenantPolicy,
  limits: Limits,
  maxAttempts: number,
  placementWaitMs: number,
): Promise<void> {
  const quota = { createPerSec: policy.max.createPerSec, jobsInFlight: policy.max.jobsInFlight };
  const life = (limits.timeoutSec + limits.graceSec) * 1000 * maxAttempts + placementWaitMs + 60_000;
  const until = Date.now() + life;
  try {
    await farm.admitJob(tenant, jobId, quota, until);
  } catch (err) {
    if (!(err instanceof KilnError) || !/queued or running/.test(err.message)) throw err;
    const ids = await farm.inFlight(tenant);
    const states = await Promise.all(ids.map(async (id) => (await farm.getJob(id))?.state ?? null));
    const done = ids.filter((_, i) => {
      const st = states[i];
      return st === null || st === undefined || TERMINAL_STATES.has(st);
    });
    if (done.length === 0) throw err;
    await farm.releaseInFlight(tenant, done);
    await farm.admitJob(tenant, jobId, quota, until);
  }
}
