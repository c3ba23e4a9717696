/** Job routes: create, status (long-poll), stop, delete, outputs. */
import { Hono, type Context } from 'hono';
import { KilnError } from '../../protocol/errors.ts';
import { jobSpecSchema, type JobSpec } from '../../protocol/job.ts';
import { decodeJobBody, JOB_BODY_TYPE } from '../../protocol/job-body.ts';
import { createJob } from '../create-job.ts';
import { parseOrThrow } from '../../protocol/validate.ts';
import type { GatewayDeps, GatewayEnv } from '../context.ts';
import { blobKey, logPrefix } from '../../protocol/store-keys.ts';
import { readJson } from '../errors.ts';
import { authorizeJob } from '../job-access.ts';
import { isFinished, toJobView } from '../job-view.ts';
import { signedJobView } from '../signature-view.ts';
import { waitForJob } from '../wait-job.ts';

function waitParam(raw: string | undefined, max: number): number {
  if (raw === undefined || raw === '') return 0;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0)
    throw new KilnError('ERR_VALIDATION', '?wait= must be a number of seconds');
  return Math.min(n, max);
}

/** The job spec of a creation: a binary job body (protocol/job-body.ts) or JSON. */
async function specOf(c: Context<GatewayEnv>): Promise<JobSpec> {
  if (c.req.header('content-type')?.startsWith(JOB_BODY_TYPE))
    return decodeJobBody(new Uint8Array(await c.req.arrayBuffer()));
  return parseOrThrow(jobSpecSchema, await readJson(c), 'job spec');
}

/** Routes under /api/v1/jobs. */
export function jobRoutes(deps: GatewayDeps): Hono<GatewayEnv> {
  const { farm, store, limits } = deps;
  const app = new Hono<GatewayEnv>();

  app.post('/', async (c) => {
    const principal = await deps.authenticate(c.req.raw);
    const spec = await specOf(c);
    const wait = waitParam(c.req.query('wait'), limits.maxWaitSec);
    const key = c.req.header('idempotency-key');
    if (key !== undefined && !/^[A-Za-z0-9._:-]{1,128}$/.test(key))
      throw new KilnError(
        'ERR_VALIDATION',
        'Idempotency-Key must be 1 to 128 characters of letters, digits and . _ : - (a UUID will do)',
      );
    const { status, body } = await createJob(deps, principal, spec, wait, c.req.raw.signal, key);
    return c.json(body, status, status === 201 ? { Location: `/api/v1/jobs/${body.job.id}` } : {});
  });

  app.get('/:id', async (c) => {
    const rec = await authorizeJob(deps, c.req.raw, c.req.param('id'));
    const done = await waitForJob(
      farm,
      rec,
      waitParam(c.req.query('wait'), limits.maxWaitSec),
      c.req.raw.signal,
    );
    return c.json(await signedJobView(farm, done));
  });

  app.post('/:id/cancel', async (c) => {
    const rec = await authorizeJob(deps, c.req.raw, c.req.param('id'));
    const r = await farm.cancelJob(rec.id);
    if (r === 'killed') {
      await farm.appendLogMarker(rec.id, 'end', rec.attempt);
      await farm.publishDone(rec.id);
    } else if (r === 'running') {
      await farm.signalBuilder(rec.bid, rec.id);
    }
    const now = await farm.getJob(rec.id);
    return c.json(toJobView(now ?? rec), 202);
  });

  app.delete('/:id', async (c) => {
    const rec = await authorizeJob(deps, c.req.raw, c.req.param('id'));
    if (!isFinished(rec)) {
      throw new KilnError(
        'ERR_JOB_NOT_FINISHED',
        `job ${rec.id} is ${rec.state}; stop it first (POST …/cancel)`,
      );
    }
    await farm.deleteJob(rec.id);
    for await (const o of store.list(logPrefix(rec.tenant, rec.id))) await store.delete(o.key);
    return c.body(null, 204);
  });

  app.get('/:id/outputs', async (c) => {
    const rec = await authorizeJob(deps, c.req.raw, c.req.param('id'));
    if (!isFinished(rec)) throw new KilnError('ERR_JOB_NOT_FINISHED', `job ${rec.id} is still ${rec.state}`);
    if (!rec.outputs) throw new KilnError('ERR_NOT_FOUND', `job ${rec.id} has no outputs`);
    const key = blobKey(rec.tenant, rec.outputs.digest);
    const signed = await store.presignGet(key, { ttlSec: 300 });
    if (signed) return c.redirect(signed.url, 302);
    const body = await store.get(key);
    if (!body) throw new KilnError('ERR_NOT_FOUND', `the outputs of job ${rec.id} are gone from the store`);
    return c.body(body, 200, {
      'Content-Type': 'application/x-tar',
      'Content-Length': String(rec.outputs.size),
      'X-Kiln-Digest': rec.outputs.digest,
    });
  });

  return app;
}
