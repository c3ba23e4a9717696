/**
 * One job on a builder, in order: verify the token (before anything else), claim the attempt,
 * fetch inputs, run sandboxed while streaming logs, upload outputs, write the result, release the
 * slot, acknowledge the message last.
 */
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { KilnError } from '../../protocol/errors.ts';
import { verifyJobToken } from '../../protocol/token.ts';
import type { BlobStore } from '../../storage/port.ts';
import { blobKey } from '../../protocol/store-keys.ts';
import type { RedisFarm } from '../../redis/farm.ts';
import {
  ackJob,
  appendLog,
  cancelRequested,
  completeJob,
  startJob,
  type Pulled,
} from '../../redis/builder-ops.ts';
import type { JobResultFields } from '../../redis/job-hash.ts';
import type { SandboxResult, SandboxRunner } from './sandbox.ts';
import { createLogPump } from './log-pump.ts';
import { fetchInput } from './fetch-input.ts';
import { collectOutputs } from './collect-outputs.ts';
import { materializeTree, type BlobCache } from './materialize.ts';

export interface JobContext {
  farm: RedisFarm;
  store: BlobStore;
  runner: SandboxRunner;
  bid: string;
  key: Uint8Array;
  workDir: string;
  /** Verified input file blobs, shared by the jobs of this builder. */
  blobs: BlobCache;
  log(msg: string): void;
  /** Registers the abort controller that a stop request for this job triggers. */
  track(jobId: string, ctl: AbortController): () => void;
}

function stateOf(r: SandboxResult): JobResultFields['state'] {
  if (r.outcome === 'killed') return 'killed';
  if (r.outcome === 'timed_out') return 'timed_out';
  return r.exitCode === 0 ? 'succeeded' : 'failed';
}

/** Handles one pulled message; never throws for a job's own failure. */
export async function runJob(ctx: JobContext, msg: Pulled): Promise<void> {
  const { farm, bid } = ctx;
  const finish = async (): Promise<void> => {
    await farm.releaseSlot(msg.jobId, bid);
    await ackJob(farm, bid, msg.streamId);
  };
  try {
    await verifyJobToken(msg.token, ctx.key, { jti: msg.jobId, bid });
  } catch (err) {
    ctx.log(`refused message ${msg.streamId} for job ${msg.jobId}: ${(err as Error).message}`);
    await ackJob(farm, bid, msg.streamId);
    return;
  }
  const rec = await farm.getJob(msg.jobId);
  if (!rec) return finish();
  const started = await startJob(farm, msg.jobId, msg.attempt, bid);
  if (started !== 1) {
    ctx.log(`job ${msg.jobId} attempt ${msg.attempt} not started (code ${started})`);
    return finish();
  }
  const dir = join(ctx.workDir, `${msg.jobId}.${msg.attempt}`);
  const root = join(dir, 'root');
  const spec = rec.spec;
  const pump = createLogPump(
    (kind, data) => appendLog(farm, msg.jobId, msg.attempt, kind, data),
    spec.limits.logBytes,
  );
  const ctl = new AbortController();
  const untrack = ctx.track(msg.jobId, ctl);
  let result: JobResultFields;
  try {
    await mkdir(dir, { recursive: true });
    if (spec.tree) {
      await materializeTree(ctx.store, ctx.blobs, rec.tenant, spec.tree, root);
    } else if (spec.input) {
      await fetchInput(
        ctx.store,
        blobKey(rec.tenant, spec.input.digest),
        spec.input,
        join(dir, 'input.tar'),
        root,
      );
    } else {
      await mkdir(root);
    }
    if (await cancelRequested(farm, msg.jobId)) ctl.abort();
    const r = await ctx.runner.run({
      jobId: `${msg.jobId}.${msg.attempt}`,
      jobDir: root,
      argv: spec.argv,
      env: spec.env,
      cwd: spec.cwd,
      limits: spec.limits,
      profile: spec.profile,
      onOutput: (stream, chunk) => pump.write(stream, chunk),
      signal: ctl.signal,
    });
    const collected = await collectOutputs(ctx.store, root, spec.outputs, (d) => blobKey(rec.tenant, d));
    result = {
      state: stateOf(r),
      exitCode: r.exitCode,
      signal: r.signal,
      error: r.oomKilled
        ? { code: 'ERR_OOM', message: `memory limit of ${spec.limits.memoryMiB} MiB reached` }
        : null,
      outputs: collected.outputs,
      missingOutputs: collected.missing,
      logTruncated: pump.truncated,
      finishedAt: '',
    };
  } catch (err) {
    const e =
      err instanceof KilnError ? err : new KilnError('ERR_INTERNAL', (err as Error).message, { cause: err });
    if (!(err instanceof KilnError))
      ctx.log(`job ${msg.jobId} failed in the builder: ${(err as Error).stack}`);
    pump.write('stderr', new TextEncoder().encode(`kiln: ${e.message}\n`));
    result = {
      state: 'failed',
      exitCode: null,
      signal: null,
      error: { code: e.code, message: e.message },
      outputs: null,
      missingOutputs: [],
      logTruncated: pump.truncated,
      finishedAt: '',
    };
  } finally {
    untrack();
  }
  await pump.close().catch((err: unknown) => ctx.log(`log of ${msg.jobId}: ${String(err)}`));
  result.finishedAt = new Date().toISOString();
  if (await completeJob(farm, msg.jobId, msg.attempt, bid, result)) {
    await farm.appendLogMarker(msg.jobId, 'end', msg.attempt);
  } else {
    ctx.log(`job ${msg.jobId} attempt ${msg.attempt}: result dropped (the job was placed again or stopped)`);
  }
  await rm(dir, { recursive: true, force: true }).catch(() => undefined);
  await finish();
}
