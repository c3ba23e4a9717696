/**
 * One job on a builder, in order: verify the token (before anything else), claim the attempt,
 * fetch inputs, run sandboxed while streaming logs, upload outputs, write the result, release the
 * slot, acknowledge the message last.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { KilnError } from '../../protocol/errors.ts';
import { verifyJobToken } from '../../protocol/token.ts';
import type { BlobStore } from '../../storage/port.ts';
import type { JobResultFields } from '../../protocol/farm.ts';
import type { BuilderFarm, PulledJob } from '../../protocol/builder-port.ts';
import type { SandboxResult, SandboxRunner } from './sandbox.ts';
import { createLogPump } from './log-pump.ts';
import { createSegmentedLog } from './log-segments.ts';
import { LOG_ENTRY_MAX_BYTES } from '../../protocol/log-segment.ts';
import type { BlobCache } from './materialize.ts';
import type { ToolchainCache, ToolchainLease } from './toolchain-cache.ts';
import { prepareJobRoot } from './prepare-dir.ts';
import { finishOutputs } from './finish-outputs.ts';
import { boundedCapture, INLINE_RESULT_MAX } from './inline-io.ts';

export interface JobContext {
  farm: BuilderFarm;
  store: BlobStore;
  runner: SandboxRunner;
  bid: string;
  key: Uint8Array;
  workDir: string;
  /** Verified input file blobs, shared by the jobs of this builder. */
  blobs: BlobCache;
  /** Unpacked toolchains (the sandbox root of jobs that name one). */
  toolchains: ToolchainCache;
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
export async function runJob(ctx: JobContext, msg: PulledJob): Promise<void> {
  const { farm, bid } = ctx;
  const finish = async (): Promise<void> => {
    await farm.releaseSlot(msg.jobId, bid);
    await farm.ack(bid, msg.ackId);
  };
  try {
    await verifyJobToken(msg.token, ctx.key, { jti: msg.jobId, bid });
  } catch (err) {
    ctx.log(`refused message ${msg.ackId} for job ${msg.jobId}: ${(err as Error).message}`);
    await farm.ack(bid, msg.ackId);
    return;
  }
  const rec = await farm.readJob(msg.jobId);
  if (!rec) return finish();
  try {
    await farm.claim(msg.jobId, msg.attempt, bid);
  } catch (err) {
    if (!(err instanceof KilnError)) throw err;
    ctx.log(`job ${msg.jobId} attempt ${msg.attempt} not started: ${err.message}`);
    return finish();
  }
  const dir = join(ctx.workDir, `${msg.jobId}.${msg.attempt}`);
  const root = join(dir, 'root');
  const spec = rec.spec;
  const log = createSegmentedLog(farm, ctx.store, {
    id: msg.jobId,
    attempt: msg.attempt,
    tenant: rec.tenant,
  });
  const pump = createLogPump(log.sink, spec.limits.logBytes, 20, LOG_ENTRY_MAX_BYTES);
  const ctl = new AbortController();
  const untrack = ctx.track(msg.jobId, ctl);
  const captured = { stdout: boundedCapture(INLINE_RESULT_MAX), stderr: boundedCapture(INLINE_RESULT_MAX) };
  let result: JobResultFields;
  let toolchain: ToolchainLease | null = null;
  try {
    if (spec.toolchain) toolchain = await ctx.toolchains.acquire(spec.toolchain);
    await prepareJobRoot(ctx.store, ctx.blobs, rec.tenant, spec, dir, root);
    if (await farm.stopRequested(msg.jobId)) ctl.abort();
    const capture = spec.inlineResult || spec.cache;
    const r = await ctx.runner.run({
      jobId: `${msg.jobId}.${msg.attempt}`,
      jobDir: root,
      argv: spec.argv,
      env: spec.env,
      cwd: spec.cwd,
      limits: spec.limits,
      profile: spec.profile,
      ...(toolchain ? { rootDir: toolchain.root } : {}),
      onOutput: (stream, chunk) => {
        pump.write(stream, chunk);
        if (capture) captured[stream].push(chunk);
      },
      signal: ctl.signal,
    });
    const state = stateOf(r);
    const out = await finishOutputs(ctx.store, rec, root, {
      exitCode: r.exitCode,
      succeeded: state === 'succeeded',
      stdout: captured.stdout.bytes(),
      stderr: captured.stderr.bytes(),
      captureComplete: capture && !captured.stdout.overflow() && !captured.stderr.overflow(),
    });
    result = {
      state,
      exitCode: r.exitCode,
      signal: r.signal,
      error: r.oomKilled
        ? { code: 'ERR_OOM', message: `memory limit of ${spec.limits.memoryMiB} MiB reached` }
        : null,
      outputs: out.outputs,
      missingOutputs: out.missing,
      rejectedOutputs: out.rejected,
      logTruncated: pump.truncated,
      finishedAt: '',
      ...(out.result ? { result: out.result } : {}),
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
      rejectedOutputs: [],
      logTruncated: pump.truncated,
      finishedAt: '',
    };
  } finally {
    untrack();
    toolchain?.release();
  }
  await pump
    .close()
    .then(() => log.close())
    .catch((err: unknown) => ctx.log(`log of ${msg.jobId}: ${String(err)}`));
  result.finishedAt = new Date().toISOString();
  if (await farm.complete(msg.jobId, msg.attempt, bid, result)) {
    await farm.endLog(msg.jobId, msg.attempt);
  } else {
    ctx.log(`job ${msg.jobId} attempt ${msg.attempt}: result dropped (the job was placed again or stopped)`);
  }
  await rm(dir, { recursive: true, force: true }).catch(() => undefined);
  await finish();
}
