/**
 * Creating a job: inputs present, an action-cache answer when the job is cacheable and was seen,
 * else placement on a builder, a job token for it, the record and the builder's message.
 */
import type { ActionResult } from '../protocol/action.ts';
import { actionDigest } from '../protocol/action.ts';
import { sha256Hex } from '../protocol/digest.ts';
import { KilnError } from '../protocol/errors.ts';
import type { CreatedJob, JobSpec, JobView } from '../protocol/job.ts';
import { blobKey } from '../protocol/store-keys.ts';
import { lookupAction, scopesFor } from './action-cache.ts';
import type { Principal } from './auth/principal.ts';
import type { GatewayDeps } from './context.ts';
import { issueJobToken } from './job-token.ts';
import { toJobView } from './job-view.ts';
import { placeWithWait } from './place.ts';
import { needPresets } from './toolchains/access.ts';
import { resolveToolchain } from './toolchains/resolve.ts';
import { waitForJob } from './wait-job.ts';

function cachedView(id: string, spec: JobSpec, hit: ActionResult): JobView {
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

/** Creates (or answers from the cache) a job; waits up to `waitSec` for it to finish. */
export async function createJob(
  deps: GatewayDeps,
  principal: Principal,
  asked: JobSpec,
  waitSec: number,
  signal?: AbortSignal,
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
    const inlineDigests = await Promise.all((spec.inline ?? []).map((f) => sha256Hex(f.data)));
    action = await actionDigest(spec, toolchain, inlineDigests);
    const scopes = scopesFor(principal.tenant, deps.cache ?? { shared: [] });
    scope = scopes.write;
    const hit = await lookupAction(deps.store, scopes.read, action);
    if (hit)
      return { status: 200, body: { job: cachedView(`ac-${action.slice(0, 16)}`, spec, hit), token: '' } };
  }
  const id = crypto.randomUUID();
  const bid = await placeWithWait(farm, id, spec.platform, toolchain, limits.placementWaitMs);
  const job = { id, spec, sub: principal.sub, tenant: principal.tenant };
  let token: string;
  try {
    token = await issueJobToken(farm, job, bid);
    const ttl = (spec.limits.timeoutSec + spec.limits.graceSec) * limits.maxAttempts + 86_400;
    await farm.createJob(
      { ...job, bid, createdAt: new Date().toISOString(), action, cacheScope: scope },
      ttl,
    );
    await farm.enqueue(bid, { jobId: id, attempt: 1, token });
  } catch (err) {
    await farm.releaseSlot(id, bid).catch(() => undefined);
    throw err;
  }
  let rec = await farm.getJob(id);
  if (!rec) throw new KilnError('ERR_INTERNAL', 'job vanished after creation');
  rec = await waitForJob(farm, rec, waitSec, signal);
  return { status: 201, body: { job: toJobView(rec), token } };
}
