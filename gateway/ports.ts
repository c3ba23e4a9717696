/**
 * The narrow ports the runtime-neutral gateway needs. Implementations are wired by the adapters:
 * redis/farm.ts (Redis) for {@link FarmState}, storage/*.ts for BlobStore.
 */
import type { JobSpec, JobState, BlobRef, InlineResult } from '../protocol/job.ts';
import type { BuilderInfo } from '../protocol/keys.ts';

/** A job as stored. */
export interface JobRecord {
  id: string;
  spec: JobSpec;
  state: JobState;
  attempt: number;
  bid: string;
  sub: string;
  tenant: string;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  exitCode: number | null;
  signal: string | null;
  error: { code: string; message: string } | null;
  outputs: BlobRef | null;
  missingOutputs: string[];
  logTruncated: boolean;
  cancelRequested: boolean;
  /** The action digest, for cacheable jobs. */
  action: string | null;
  /** Where a builder stores the result of a successful cacheable job. */
  cacheScope: string | null;
  /** Output and files inline, for jobs that asked for `inlineResult`. */
  result: InlineResult | null;
}

/** What creating a job records. */
export type NewJob = Pick<JobRecord, 'id' | 'spec' | 'bid' | 'sub' | 'tenant' | 'createdAt'> &
  Partial<Pick<JobRecord, 'action' | 'cacheScope'>>;

/** One entry of a job's log stream. */
export type LogEntry =
  | { id: string; kind: 'out' | 'err'; attempt: number; data: Uint8Array }
  | { id: string; kind: 'restart'; attempt: number }
  | { id: string; kind: 'end'; attempt: number };

export interface BuilderView {
  info: BuilderInfo;
  load: number;
  leaseExpiresAt: number;
}

/** A message on a builder's job stream. */
export interface JobMessage {
  jobId: string;
  attempt: number;
  token: string;
}

/** Wake-ups for one job; `next` resolves true on an event (or one that came since the last call). */
export interface EventListener {
  next(timeoutMs: number, signal?: AbortSignal): Promise<boolean>;
  close(): void;
}

/** Shared farm state: builder registry, placement, job records, logs, wake-ups. */
export interface FarmState {
  /** Reserves a slot for the job on the best builder; throws ERR_NO_CAPACITY. */
  placeJob(jobId: string, platform: string, toolchain: string): Promise<string>;
  releaseSlot(jobId: string, bid: string): Promise<boolean>;
  /** The job-token key of a builder (kept after its lease ends), or null. */
  builderKey(bid: string): Promise<Uint8Array | null>;
  createJob(rec: NewJob, ttlSec: number): Promise<void>;
  getJob(id: string): Promise<JobRecord | null>;
  deleteJob(id: string): Promise<void>;
  enqueue(bid: string, msg: JobMessage): Promise<void>;
  /** Stops a job: "killed" when it was queued, "running" when its builder must stop it, or its final state. */
  cancelJob(id: string): Promise<JobState | 'running' | null>;
  /** Asks a builder to stop a running job. */
  signalBuilder(bid: string, jobId: string): Promise<void>;
  /** Builders whose lease expired, removed from the registry, with the jobs they held. */
  expireBuilders(now: number): Promise<{ bid: string; jobs: string[] }[]>;
  /** Moves a job to its next attempt on `newBid` or fails it; returns the new attempt, or 0 if failed, or null if nothing to do. */
  requeueJob(
    id: string,
    lostAttempt: number,
    maxAttempts: number,
    newBid: string,
    error: { code: string; message: string },
  ): Promise<number | null>;
  /** Deletes a removed builder's job stream. */
  dropBuilder(bid: string): Promise<void>;
  appendLogMarker(id: string, kind: 'restart' | 'end', attempt: number): Promise<void>;
  readLog(id: string, afterId: string, count: number): Promise<LogEntry[]>;
  /** Publishes that a job finished (wakes long-polls and log followers). */
  publishDone(id: string): Promise<void>;
  /** Subscribes to a job's events (log appended, finished); subscribe before checking state. */
  listenJob(id: string): Promise<EventListener>;
  listBuilders(): Promise<BuilderView[]>;
  /** Takes a short lock so only one gateway sweeps at a time. */
  tryLock(name: 'sweep', ttlMs: number): Promise<boolean>;
  ping(): Promise<void>;
}
