/**
 * One job on a builder, in order: verify the token (before anything else), claim the attempt,
 * fetch inputs, run sandboxed while streaming logs, upload outputs, write the result, release the
 * slot, acknowledge the message last.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { KilnError } from '../../protocol/errors.ts';
import { verifyJobToken } from '../../protocol/token.ts';
import type { BlobStore } from '../../storage/port.ts';
import type { JobRecord, JobResultFields } from '../../protocol/farm.ts';
import type { ResultSignature } from '../../protocol/result-signature.ts';
import type { BuilderFarm, PulledJob } from '../../protocol/builder-port.ts';
import type { SandboxResult, SandboxRunner } from './sandbox.ts';
import { createLogPump, type LogPump } from './log-pump.ts';
import { createSegmentedLog } from './log-segments.ts';
import { LOG_ENTRY_MAX_BYTES } from '../../protocol/log-segment.ts';
import type { BlobCache } from './materialize.ts';
import type { ToolchainCache, ToolchainLease } from './toolchain-cache.ts';
import { PLAIN_DISKS, type JobDisk, type JobDisks } from './job-disk.ts';
import { prepareJobRoot } from './prepare-dir.ts';
import { finishOutputs } from './finish-outputs.ts';
import { boundedCapture, INLINE_RESULT_MAX } from './inline-io.ts';
import type { BuilderMetrics } from './metrics.ts';
import type { ResultSigner } from './result-signer.ts';

export interface JobContext {
  farm: BuilderFarm;
  store: BlobStore;
  runner: SandboxRunner;
  bid: string;
  /** The builder's platform (every job it is sent is of this platform). */
  platform: string;
  key: Uint8Array;
  /** Signs every result this builder writes (the job's and the action-cache entry). */
  signer: ResultSigner;
  workDir: string;
  /** Verified input file blobs, shared by the jobs of this builder. */
  blobs: BlobCache;
  /** Unpacked toolchains (the sandbox root of jobs that name one). */
  toolchains: ToolchainCache;
  /** The job directory's file system, sized to `limits.diskMiB`. @default PLAIN_DISKS (no quota) */
  disks?: JobDisks;
  log(msg: string): void;
  /** Registers the abort controller that a stop request for this job triggers. */
  track(jobId: string, ctl: AbortController): () => void;
  /** True while the work disk is below its reserve or full: jobs are handed back. */
  diskFull?(): boolean;
  /** Told when a job hit a full disk (ENOSPC). */
  onDiskFull?(): void;
  /** Where job times and hand-backs are reported. @default none */
  metrics?: BuilderMetrics;
}

/**
 * The abort reason of a job the builder hands back (drain bound reached on SIGTERM, lease lost):
 * no result is written, the job keeps its attempt and a sweeper places it again elsewhere.
 */
export const HAND_BACK = 'kiln:hand-back';

/** ENOSPC (or EDQUOT) anywhere while preparing, running or collecting a job. */
function isDiskFull(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

function stateOf(r: SandboxResult): JobResultFields['state'] {
  if (r.outcome === 'killed') return 'killed';
  if (r.outcome === 'timed_out') return 'timed_out';
  return r.exitCode === 0 ? 'succeeded' : 'failed';
}

/**
 * Verifies the token (before anything else), then claims the attempt, which answers the job in the
 * same step. Answers the job to run, or what to do instead: `refused` (acknowledge only: a forged
 * or misrouted message) or `skip` (release the slot and acknowledge: the job is gone, finished or
 * placed again, or handed back because the work disk is full).
 */
async function admit(
  ctx: JobContext,
  msg: PulledJob,
  ctl: AbortController,
): Promise<{ rec: JobRecord; untrack: () => void } | 'refused' | 'skip'> {
  try {
    await verifyJobToken(msg.token, ctx.key, { jti: msg.jobId, bid: ctx.bid });
  } catch (err) {
    ctx.log(`refused message ${msg.ackId} for job ${msg.jobId}: ${(err as Error).message}`);
    return 'refused';
  }
  if (ctx.diskFull?.()) {
    ctx.log(`job ${msg.jobId}: the work disk is below its reserve; handing it back to be placed elsewhere`);
    ctx.metrics?.handedBack();
    // A builder runs only jobs of its own platform: the job's platform is this builder's.
    await ctx.farm.handBack(ctx.platform, msg.jobId);
    return 'skip';
  }
  // Tracked before the claim is sent: a stop asked after the claim ran in Redis is published
  // after it and finds this job's controller; one asked before is in the claim's reply
  // (`cancel`). So no read of its own asks for it.
  const untrack = ctx.track(msg.jobId, ctl);
  try {
    const rec = await ctx.farm.claim(msg.jobId, msg.attempt, ctx.bid);
    if (rec.cancelRequested) ctl.abort();
    return { rec, untrack };
  } catch (err) {
    untrack();
    if (!(err instanceof KilnError)) throw err;
    ctx.log(`job ${msg.jobId} attempt ${msg.attempt} not started: ${err.message}`);
    return 'skip';
  }
}

/** One claimed attempt as it runs. */
interface Attempt {
  msg: PulledJob;
  rec: JobRecord;
  /** The attempt's host directory (the job's file system and builder-side files). */
  dir: string;
  pump: LogPump;
  ctl: AbortController;
  /** When the attempt was claimed (ms). */
  startedAt: number;
  /** Work left when the attempt is over (the job disk's removal), awaited before its directory goes. */
  cleanup: Promise<void>[];
  /** Points of the attempt's time (JobResultFields.trace). */
  trace: Record<string, number>;
}

/** Now, in ms since the epoch with a fraction (one clock for every process of the machine). */
const stamp = (): number => Math.round((performance.timeOrigin + performance.now()) * 100) / 100;

/** ERR_DISK_QUOTA for a job whose own file system filled up. */
function quotaError(diskMiB: number, what: string): { code: 'ERR_DISK_QUOTA'; message: string } {
  return {
    code: 'ERR_DISK_QUOTA',
    message: `disk limit of ${diskMiB} MiB reached (${what}): the job's disk is full; ask for more with limits.diskMiB`,
  };
}

/** Fills the job directory, runs the job in the sandbox and brings its outputs back. */
async function execute(ctx: JobContext, a: Attempt): Promise<JobResultFields> {
  const { msg, rec, pump, ctl } = a;
  const spec = rec.spec;
  const captured = { stdout: boundedCapture(INLINE_RESULT_MAX), stderr: boundedCapture(INLINE_RESULT_MAX) };
  let toolchain: ToolchainLease | null = null;
  let disk: JobDisk | null = null;
  try {
    if (spec.toolchain) toolchain = await ctx.toolchains.acquire(spec.toolchain);
    mkdirSync(a.dir, { recursive: true });
    disk = await (ctx.disks ?? PLAIN_DISKS).create(a.dir, spec.limits.diskMiB);
    const root = disk.root;
    try {
      await prepareJobRoot(ctx.store, ctx.blobs, rec.tenant, spec, a.dir, root);
    } catch (err) {
      if (isDiskFull(err) && (await disk.hitLimit()))
        throw new KilnError('ERR_DISK_QUOTA', quotaError(spec.limits.diskMiB, 'the inputs').message, {
          cause: err,
        });
      throw err;
    }
    ctx.metrics?.sandboxSetup((Date.now() - a.startedAt) / 1000);
    const capture = spec.inlineResult || spec.cache;
    a.trace.sandbox = stamp();
    const r = await ctx.runner.run({
      jobId: `${msg.jobId}.${msg.attempt}`,
      jobDir: root,
      argv: spec.argv,
      env: spec.env,
      cwd: spec.cwd,
      limits: spec.limits,
      profile: spec.profile,
      ...(toolchain ? { rootDir: toolchain.root } : {}),
      ...(disk.tmp !== undefined ? { tmpDir: disk.tmp } : {}),
      onOutput: (stream, chunk) => {
        if (capture) captured[stream].push(chunk);
        // Past the pump's backlog bound, the runner waits before it reads more of the job's output.
        return pump.write(stream, chunk);
      },
      signal: ctl.signal,
    });
    a.trace.ran = stamp();
    const state = stateOf(r);
    const diskHit = await disk.hitLimit();
    const out = await finishOutputs(ctx.store, rec, root, ctx, {
      exitCode: r.exitCode,
      succeeded: state === 'succeeded',
      stdout: captured.stdout.bytes(),
      stderr: captured.stderr.bytes(),
      captureComplete: capture && !captured.stdout.overflow() && !captured.stderr.overflow(),
    });
    return {
      state,
      exitCode: r.exitCode,
      signal: r.signal,
      error: r.oomKilled
        ? { code: 'ERR_OOM', message: `memory limit of ${spec.limits.memoryMiB} MiB reached` }
        : diskHit
          ? quotaError(spec.limits.diskMiB, disk.tmp !== undefined ? '/job and /tmp' : '/job')
          : null,
      outputs: out.outputs,
      missingOutputs: out.missing,
      rejectedOutputs: out.rejected,
      logTruncated: pump.truncated,
      finishedAt: '',
      ...(out.result ? { result: out.result } : {}),
    };
  } finally {
    // The outputs are collected: unmounting runs while the result is written (awaited before the directory goes).
    if (disk)
      a.cleanup.push(
        disk.release().catch((e: unknown) => ctx.log(`job ${msg.jobId}: ${(e as Error).message}`)),
      );
    toolchain?.release();
  }
}

/** The result of an attempt the builder itself could not carry through; told in the job's log. */
function builderFailure(ctx: JobContext, a: Attempt, err: unknown): JobResultFields {
  // A job that filled its own file system (ERR_DISK_QUOTA) says nothing about the builder's disk.
  const own = err instanceof KilnError && err.code === 'ERR_DISK_QUOTA';
  const full = !own && (isDiskFull(err) || isDiskFull((err as { cause?: unknown } | undefined)?.cause));
  if (full) ctx.onDiskFull?.();
  const e =
    err instanceof KilnError
      ? err
      : full
        ? new KilnError(
            'ERR_NO_SPACE',
            `the work disk of builder ${ctx.bid} is full (${(err as Error).message})`,
          )
        : new KilnError('ERR_INTERNAL', (err as Error).message, { cause: err });
  if (!(err instanceof KilnError) && !full)
    ctx.log(`job ${a.msg.jobId} failed in the builder: ${(err as Error).stack}`);
  a.pump.write('stderr', new TextEncoder().encode(`kiln: ${e.message}\n`));
  return {
    state: 'failed',
    exitCode: null,
    signal: null,
    error: { code: e.code, message: e.message },
    outputs: null,
    missingOutputs: [],
    rejectedOutputs: [],
    logTruncated: a.pump.truncated,
    finishedAt: '',
  };
}

/**
 * Writes the result; true when it is recorded. A retry after a reply lost to a cut connection sees
 * "finished": it counts as landed when the record holds exactly this result.
 */
async function landed(ctx: JobContext, msg: PulledJob, result: JobResultFields): Promise<boolean> {
  if (await ctx.farm.complete(msg.jobId, msg.attempt, ctx.bid, result)) return true;
  const now = await ctx.farm.readJob(msg.jobId);
  return (
    now !== null && now.bid === ctx.bid && now.attempt === msg.attempt && now.finishedAt === result.finishedAt
  );
}

/** The builder's signature over what it is about to record (set last, after every other field). */
function signResult(ctx: JobContext, rec: JobRecord, r: JobResultFields): Promise<ResultSignature> {
  return ctx.signer.sign({
    job: rec.id,
    action: rec.action,
    builder: ctx.bid,
    exitCode: r.exitCode,
    signal: r.signal,
    outputs: r.outputs,
    inline: r.result ?? null,
    missing: r.missingOutputs,
  });
}

/** Reports a recorded attempt's times. */
function report(ctx: JobContext, a: Attempt, result: JobResultFields): void {
  const end = Date.parse(result.finishedAt);
  const created = Date.parse(a.rec.createdAt) || a.startedAt;
  ctx.metrics?.jobFinished(result.state, {
    queueWaitSec: Math.max(0, a.startedAt - created) / 1000,
    runSec: (end - a.startedAt) / 1000,
    endToEndSec: Math.max(0, end - created) / 1000,
  });
}

/** Handles one pulled message; never throws for a job's own failure. */
export async function runJob(ctx: JobContext, msg: PulledJob): Promise<void> {
  const { farm, bid } = ctx;
  const pulled = stamp();
  // The slot goes back, then the message is acknowledged (last), in one round trip.
  const finish = async (): Promise<void> => {
    await farm.finish(msg.jobId, bid, msg.ackId);
  };
  const ctl = new AbortController();
  const admitted = await admit(ctx, msg, ctl);
  if (admitted === 'refused') return farm.ack(bid, msg.ackId);
  if (admitted === 'skip') return finish();
  const { rec, untrack } = admitted;
  // An opaque name: nothing of the job, tenant or builder shows in paths the sandbox might see.
  const dir = join(ctx.workDir, `j-${randomBytes(8).toString('hex')}`);
  const log = createSegmentedLog(farm, ctx.store, {
    id: msg.jobId,
    attempt: msg.attempt,
    tenant: rec.tenant,
  });
  const pump = createLogPump(log.sink, rec.spec.limits.logBytes, 20, LOG_ENTRY_MAX_BYTES);
  const a: Attempt = {
    msg,
    rec,
    dir,
    pump,
    ctl,
    startedAt: Date.now(),
    cleanup: [],
    trace: { pulled, claimed: stamp() },
  };
  const result = await execute(ctx, a)
    .catch((err: unknown) => builderFailure(ctx, a, err))
    .finally(untrack);
  await pump
    .close()
    .then(() => log.close())
    .catch((err: unknown) => ctx.log(`log of ${msg.jobId}: ${String(err)}`));
  if (a.ctl.signal.aborted && a.ctl.signal.reason === HAND_BACK) {
    // Handed back: no result, no release, no ack; the farm places it again (lease end or hand-back).
    ctx.log(`job ${msg.jobId} attempt ${msg.attempt} handed back`);
    ctx.metrics?.handedBack();
    await Promise.all(a.cleanup);
    await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    return;
  }
  result.finishedAt = new Date().toISOString();
  result.signature = await signResult(ctx, a.rec, result);
  result.trace = { ...a.trace, reporting: stamp() };
  // The result, the log's end and the waiters' wake-up land in one step (complete-job-2.lua).
  if (await landed(ctx, msg, result)) {
    report(ctx, a, result);
  } else {
    ctx.log(`job ${msg.jobId} attempt ${msg.attempt}: result dropped (the job was placed again or stopped)`);
  }
  await Promise.all(a.cleanup);
  await rm(dir, { recursive: true, force: true }).catch(() => undefined);
  await finish();
}
