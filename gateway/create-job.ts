/**
 * Creating a job: inputs present, an action-cache answer when the job is cacheable and was seen,
 * else placement on a builder, a job token for it, the record and the builder's message.
 */
import type { ActionResultView } from '../protocol/action.ts';
import { actionDigest } from '../protocol/action.ts';
import { sha256Hex } from '../protocol/digest.ts';
import { KilnError } from '../protocol/errors.ts';
import type { CreatedJob, GrantedJobSpec, JobSpec, JobView } from '../protocol/job.ts';
import { admitAndPlaceJob, admitJob } from './admit.ts';
import { createLimitsPolicy } from './limits-policy.ts';

const DEFAULT_POLICY = createLimitsPolicy();
import { blobKey } from '../protocol/store-keys.ts';
import { lookupAction, scopesFor } from './action-cache.ts';
import type { Principal } from './auth/principal.ts';
import type { GatewayDeps } from './context.ts';
import { queuedRecord, type EventListener, type JobRecord, type NewJob } from '../protocol/farm.ts';
import { issueJobToken } from './job-token.ts';
import { signedAction, signedJobView } from './signature-view.ts';
import { placeWithWait } from './place.ts';
import { needPresets } from './toolchains/access.ts';
import { resolveToolchain } from './toolchains/resolve.ts';
import { waitForJob } from './wait-job.ts';

function cachedView(id: string, spec: JobSpec, hit: ActionResultView): JobView {
  const now = new Date().toISOString();
  return {
    id,
    state: 'cached',
    platform: spec.platform,
    argv: spec.argv,
    attempt: 0,
    builder: null,
    createdAt: now,
    startedAt: null,
    finishedAt: now,
    exitCode: hit.exitCode,
    signal: null,
    error: null,
    outputs: null,
    missingOutputs: hit.missing,
    rejectedOutputs: [],
    logTruncated: false,
    result: { stdout: hit.stdout, stderr: hit.stderr, files: hit.files },
    ...(hit.signature ? { signature: hit.signature } : {}),
  };
}

async function checkInputs(deps: GatewayDeps, tenant: string, spec: JobSpec): Promise<void> {
  const refs = [spec.input, spec.tree].filter((r) => r !== undefined);
  const absent: string[] = [];
  for (const r of refs) if (!(await deps.store.stat(blobKey(tenant, r.digest)))) absent.push(r.digest);
  if (absent.length > 0) {
    throw new KilnError('ERR_BLOBS_MISSING', 'upload the input blobs first (POST /api/v1/blobs/missing)', {
      detail: { missing: absent },
    });
  }
}

/** A key already used: the job it made (a new token for it), or 503 while it is still being made. */
async function replay(
  deps: GatewayDeps,
  principal: Principal,
  jobId: string,
): Promise<{ rec: JobRecord; token: string }> {
  const rec = await deps.farm.getJob(jobId);
  if (!rec || rec.tenant !== principal.tenant)
    throw new KilnError('ERR_UNAVAILABLE', 'a job with this Idempotency-Key is still being created', {
      retryAfter: 1,
    });
  return { rec, token: await issueJobToken(deps.farm, rec, rec.bid) };
}

/**
 * Creates (or answers from the cache) a job; waits up to `waitSec` for it to finish. With an
 * `idempotencyKey`, a repeated request answers the job the first one made instead of a new one.
 */
export async function createJob(
  deps: GatewayDeps,
  principal: Principal,
  asked: JobSpec,
  waitSec: number,
  signal?: AbortSignal,
  idempotencyKey?: string,
): Promise<{ status: 200 | 201; body: CreatedJob }> {
  const { farm, limits } = deps;
  const policy = deps.policy ?? DEFAULT_POLICY;
  const tenant = principal.tenant;
  policy.checkProfile(asked.profile);
  const granted: GrantedJobSpec = { ...asked, limits: policy.grant(tenant, asked.limits) };
  const id = crypto.randomUUID();
  const { maxAttempts, placementWaitMs } = limits;
  // A job with nothing to do before its placement (no inputs to check, toolchain to resolve, cache
  // to ask or key to claim) is admitted by its first placement, in the same round trip.
  const direct =
    !granted.input && !granted.tree && !granted.toolchain && !granted.cache && idempotencyKey === undefined;
  const admitPlace = direct
    ? (guardDueAt: number): Promise<string> =>
        admitAndPlaceJob(farm, tenant, id, policy.tenant(tenant), maxAttempts, placementWaitMs, {
          platform: granted.platform,
          toolchain: '',
          guardDueAt,
        })
    : undefined;
  if (!direct) await admitJob(farm, tenant, id, policy.tenant(tenant), maxAttempts, placementWaitMs);
  try {
    const r = await createAdmitted(deps, principal, granted, id, waitSec, signal, idempotencyKey, admitPlace);
    if (r.body.job.id !== id) await farm.releaseInFlight(tenant, [id]);
    return r;
  } catch (err) {
    await farm.releaseInFlight(tenant, [id]).catch(() => undefined);
    throw err;
  }
}

/**
 * Everything after admission: inputs, toolchain, the action cache, placement, the record. With
 * `admitPlace`, the job is not admitted yet: that places it first, admitting it in the same step.
 */
async function createAdmitted(
  deps: GatewayDeps,
  principal: Principal,
  asked: GrantedJobSpec,
  id: string,
  waitSec: number,
  signal?: AbortSignal,
  idempotencyKey?: string,
  admitPlace?: (guardDueAt: number) => Promise<string>,
): Promise<{ status: 200 | 201; body: CreatedJob }> {
  const { farm, limits } = deps;
  await checkInputs(deps, principal.tenant, asked);
  // The stored spec names the toolchain by digest: what the builder fetches and the cache key covers.
  const spec = asked.toolchain
    ? {
        ...asked,
        toolchain: (await resolveToolchain(needPresets(deps), asked.toolchain, asked.platform, deps.store))
          .digest,
      }
    : asked;
  const toolchain = spec.toolchain ?? '';
  let action: string | null = null;
  let scope: string | null = null;
  if (spec.cache) {
    // The SHA-256 of each file's bytes: checked already when the binary body named it.
    const inlineDigests = await Promise.all((spec.inline ?? []).map((f) => f.digest ?? sha256Hex(f.data)));
    action = await actionDigest(spec, toolchain, inlineDigests);
    const scopes = scopesFor(principal.tenant, deps.cache ?? { shared: [] });
    scope = scopes.write;
    const hit = await lookupAction(deps.store, scopes.read, action);
    deps.metrics?.inc('kiln_action_cache_lookups_total', { result: hit ? 'hit' : 'miss' });
    if (hit)
      return {
        status: 200,
        body: {
          job: cachedView(`ac-${action.slice(0, 16)}`, spec, await signedAction(farm, hit)),
          token: '',
          action,
        },
      };
  }
  if (idempotencyKey) {
    // Pending while this request places the job: longer than placement can take.
    const pendingSec = Math.ceil(limits.placementWaitMs / 1000) + 10;
    const earlier = await farm.claimIdempotencyKey(principal.tenant, idempotencyKey, id, pendingSec);
    if (earlier !== null) {
      const again = await replay(deps, principal, earlier);
      const rec = await waitForJob(farm, again.rec, waitSec, signal);
      return { status: 201, body: { job: await signedJobView(farm, rec), token: again.token } };
    }
  }
  const job = { id, spec, sub: principal.sub, tenant: principal.tenant };
  // A waiting request subscribes to the job's events while it is placed, and before its message
  // is sent: no event can come earlier, so the wait needs neither its own subscribe nor a first
  // read after the record. Without a subscription (it failed) the wait subscribes as before.
  const early = waitSec > 0 ? farm.listenJob(id).catch(() => null) : null;
  let listener: EventListener | null = null;
  let noted: Promise<void> | undefined;
  let token: string;
  let created: NewJob;
  // From its slot until its message is sent the job has a creation guard (set by placement in the
  // same step), due once this request can no longer be working on it: a gateway killed in between
  // leaks no slot and loses no job (gateway/sweeper.ts).
  const guardDueAt = Date.now() + limits.placementWaitMs + 10_000;
  try {
    const placing = Date.now();
    const wait = limits.placementWaitMs;
    const first = admitPlace && (() => admitPlace(guardDueAt));
    const bid = await placeWithWait(farm, id, spec.platform, toolchain, wait, guardDueAt, first).catch(
      (err: unknown) => {
        if (err instanceof KilnError && err.code === 'ERR_NO_CAPACITY')
          deps.metrics?.inc('kiln_placement_failures_total', {
            reason: /busy/.test(err.message) ? 'busy' : 'no_builder',
          });
        throw err;
      },
    );
    deps.metrics?.observe('kiln_placement_seconds', (Date.now() - placing) / 1000);
    await deps.faultPoint?.('create:after-place');
    try {
      token = await issueJobToken(farm, job, bid);
      const ttl =
        (spec.limits.timeoutSec + spec.limits.graceSec) * limits.maxAttempts + limits.finishedTtlSec;
      created = { ...job, bid, createdAt: new Date().toISOString(), action, cacheScope: scope };
      listener = early && (await early);
      // Noted among the recent jobs in the same write as the record (no order needed: the
      // dashboard skips an id without a record), so the creation's last round trip is this one.
      noted = farm.noteRecent(id);
      noted.catch(() => undefined);
      await farm.createAndEnqueue(created, ttl, { jobId: id, attempt: 1, token });
    } catch (err) {
      await farm.releaseSlot(id, bid).catch(() => undefined);
      throw err;
    }
  } catch (err) {
    void early?.then((l) => l?.close());
    if (idempotencyKey)
      await farm.settleIdempotencyKey(principal.tenant, idempotencyKey, id, 0).catch(() => undefined);
    await farm.creationDone(spec.platform, id).catch(() => undefined);
    throw err;
  }
  // The message is sent and the guard gone (createAndEnqueue): the rest is bookkeeping that
  // needs no order.
  await Promise.all([
    noted,
    idempotencyKey
      ? farm.settleIdempotencyKey(principal.tenant, idempotencyKey, id, limits.finishedTtlSec)
      : null,
  ]).catch((err: unknown) => {
    listener?.close();
    throw err;
  });
  deps.metrics?.inc('kiln_jobs_created_total');
  // What was just written, not read back.
  const rec = await waitForJob(farm, queuedRecord(created), waitSec, signal, listener ?? undefined);
  return {
    status: 201,
    body: { job: await signedJobView(farm, rec), token, ...(action ? { action } : {}) },
  };
}
