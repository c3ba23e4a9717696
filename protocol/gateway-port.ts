/**
 * The gateway's port on the shared farm state: builder registry, placement, job records, logs,
 * wake-ups. Runtime-neutral, interface only; the Redis implementation is redis/farm.ts, and
 * test/redis/gateway-port.conformance.ts is the suite every implementation passes.
 */
import type { JobState } from './job.ts';
import type {
  BuilderView,
  DrainMark,
  EventListener,
  JobMessage,
  JobRecord,
  LogEntry,
  NewJob,
  SignerRecord,
} from './farm.ts';

/** Shared farm state as the gateway uses it. */
export interface FarmState {
  /**
   * Reserves a slot for the job on the best builder; throws ERR_NO_CAPACITY. With `guardDueAt`
   * (ms), the job gets a creation guard in the same step as its slot: if the guard is still there
   * at that time, the gateway that made the job died before sending its message, and a sweep
   * recovers it ({@link dueCreations}); {@link creationDone} removes it.
   */
  placeJob(jobId: string, platform: string, toolchain: string, guardDueAt?: number): Promise<string>;
  releaseSlot(jobId: string, bid: string): Promise<boolean>;
  /** The job-token key of a builder (kept after its lease ends), or null. */
  builderKey(bid: string): Promise<Uint8Array | null>;
  /** The result-signing key builder `bid` registered (kept SIGNER_KEY_KEPT_SEC after it leaves), or null. */
  signerKey(bid: string): Promise<SignerRecord | null>;
  /** Every result-signing key still known (live builders' and recently gone ones'). */
  listSigners(): Promise<SignerRecord[]>;
  createJob(rec: NewJob, ttlSec: number): Promise<void>;
  /**
   * {@link createJob} then {@link enqueue} of `msg` on `rec.bid`'s stream, then
   * {@link creationDone}, in that order: the message is never visible before the record, and the
   * creation guard goes only once the message is sent. One round trip where the store allows it.
   */
  createAndEnqueue(rec: NewJob, ttlSec: number, msg: JobMessage): Promise<void>;
  getJob(id: string): Promise<JobRecord | null>;
  deleteJob(id: string): Promise<void>;
  enqueue(bid: string, msg: JobMessage): Promise<void>;
  /** Stops a job: "killed" when it was queued, "running" when its builder must stop it, or its final state. */
  cancelJob(id: string): Promise<JobState | 'running' | null>;
  /** Asks a builder to stop a running job. */
  signalBuilder(bid: string, jobId: string): Promise<void>;
  /**
   * Builders whose lease expired, removed from the registry, with the jobs they held. Those jobs
   * stay in {@link toPlaceAgain} until {@link placedAgain}, so a sweeper that dies halfway loses none.
   */
  expireBuilders(now: number): Promise<{ bid: string; jobs: string[] }[]>;
  /** Jobs of removed builders not yet placed again or failed (by any sweeper, any time). */
  toPlaceAgain(): Promise<{ platform: string; jobId: string }[]>;
  /** Marks a job of a removed builder as handled. */
  placedAgain(platform: string, jobId: string): Promise<void>;
  /** Moves a job to its next attempt on `newBid` or fails it; returns the new attempt, or 0 if failed, or null if nothing to do. */
  requeueJob(
    id: string,
    lostAttempt: number,
    maxAttempts: number,
    newBid: string,
    error: { code: string; message: string },
  ): Promise<number | null>;
  /** Removes a creation guard (the message was sent, or the creation failed and cleaned up). */
  creationDone(platform: string, jobId: string): Promise<void>;
  /** Up to `count` creation guards due at `at` or before. */
  dueCreations(at: number, count: number): Promise<{ platform: string; jobId: string }[]>;
  /** The builder a job of `platform` holds a slot on, or null. */
  assignedTo(platform: string, jobId: string): Promise<string | null>;
  /** Puts a job in the platform's "to place again" set (see {@link toPlaceAgain}). */
  placeAgainLater(platform: string, jobId: string): Promise<void>;
  /** Remembers a new job among the most recent ones (the dashboard lists them). */
  noteRecent(jobId: string): Promise<void>;
  /** Ids of the most recent jobs, newest first. */
  recentJobs(count: number): Promise<string[]>;
  /** Deletes a removed builder's job stream. */
  dropBuilder(bid: string): Promise<void>;
  appendLogMarker(id: string, kind: 'restart' | 'end', attempt: number): Promise<void>;
  readLog(id: string, afterId: string, count: number): Promise<LogEntry[]>;
  /** Publishes that a job finished (wakes long-polls and log followers). */
  publishDone(id: string): Promise<void>;
  /** Subscribes to a job's events (log appended, finished); subscribe before checking state. */
  listenJob(id: string): Promise<EventListener>;
  listBuilders(): Promise<BuilderView[]>;
  /** Sets the builder name draining (placement skips it); keeps an earlier mark. */
  drainBuilder(name: string, mark: DrainMark): Promise<DrainMark>;
  /** Clears a drain; false when the name was not drained. */
  undrainBuilder(name: string): Promise<boolean>;
  /** Every drained name, registered or not. */
  listDrains(): Promise<Map<string, DrainMark>>;
  /**
   * Claims a tenant's idempotency key for `jobId` for `ttlSec`; returns null when claimed, else the
   * job id the key already names.
   */
  claimIdempotencyKey(tenant: string, key: string, jobId: string, ttlSec: number): Promise<string | null>;
  /** Keeps the key naming `jobId` for `ttlSec` (the job exists), or frees it (`ttlSec` 0: creation failed). */
  settleIdempotencyKey(tenant: string, key: string, jobId: string, ttlSec: number): Promise<void>;
  /**
   * Admits one job creation of `tenant`: at most `createPerSec` a second (bursts of twice that)
   * and `jobsInFlight` jobs at once; the job counts until {@link releaseInFlight} or `untilMs`.
   * Throws ERR_RATE_LIMITED (429, with Retry-After) otherwise.
   */
  admitJob(
    tenant: string,
    jobId: string,
    quota: { createPerSec: number; jobsInFlight: number },
    untilMs: number,
  ): Promise<void>;
  /**
   * {@link admitJob}, then (once admitted) {@link placeJob}, in one step where the farm can (one
   * Redis server; on a cluster one after the other). Throws as admitJob does (nothing placed), or
   * as placeJob does (the job then stays admitted: place it again, or release it).
   */
  admitAndPlace(
    tenant: string,
    jobId: string,
    quota: { createPerSec: number; jobsInFlight: number },
    untilMs: number,
    platform: string,
    toolchain: string,
    guardDueAt?: number,
  ): Promise<string>;
  /** The jobs counting against a tenant's jobs in flight, with the time (ms) each stops counting by itself. */
  inFlight(tenant: string): Promise<{ id: string; untilMs: number }[]>;
  /** Stops counting jobs against the tenant's jobs in flight. */
  releaseInFlight(tenant: string, jobIds: string[]): Promise<void>;
  /** Takes a short lock so only one gateway sweeps at a time. */
  tryLock(name: 'sweep', ttlMs: number): Promise<boolean>;
  ping(): Promise<void>;
}
