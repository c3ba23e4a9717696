/**
 * The builder's port on the shared farm state: only what a builder agent does — hold a lease,
 * pull its messages, move a job through its attempt (claim, log, complete), give the slot back,
 * acknowledge, and hear stop requests. Runtime-neutral, interface only; the Redis implementation
 * is redis/builder-farm.ts, and test/redis/builder-port.conformance.ts is the suite every
 * implementation passes.
 */
import type { BuilderInfo, JobMessage, JobRecord, JobResultFields } from './farm.ts';

/** A pulled message and the id to acknowledge it with. */
export interface PulledJob extends JobMessage {
  ackId: string;
}

/** A control message from a gateway to one builder; today only: stop this job. */
export interface ControlMessage {
  type: 'stop';
  jobId: string;
}

/** What a builder agent needs from the farm. */
export interface BuilderFarm {
  /**
   * Registers the builder: its job stream, its token key (kept 2 days), its result-signing public
   * key when `info.signingKey` is set (kept SIGNER_KEY_KEPT_SEC after its last heartbeat) and a
   * lease of `leaseMs`.
   */
  register(info: BuilderInfo, key: Uint8Array, leaseMs: number): Promise<void>;
  /**
   * Renews the lease, the keys' retention and the advertised info; throws ERR_CONFLICT when the
   * lease was lost.
   */
  renew(info: BuilderInfo, leaseMs: number): Promise<void>;
  /** Ends the lease at once, so the sweeper places what the builder still held elsewhere. */
  endLease(bid: string): Promise<void>;
  /** Waits up to `blockMs` for at most `count` new messages on the builder's stream. */
  pull(bid: string, count: number, blockMs: number): Promise<PulledJob[]>;
  /**
   * Takes back up to `count` messages of the builder's stream that were delivered but not
   * acknowledged for at least `minIdleMs` (XAUTOCLAIM): their handler was lost (a Redis outage
   * mid-job); the builder handles them again.
   */
  reclaim(bid: string, minIdleMs: number, count: number): Promise<PulledJob[]>;
  /** The whole job as the builder runs it (inline files included), or null. */
  readJob(jobId: string): Promise<JobRecord | null>;
  /**
   * queued → running for this attempt on this builder (again, if it already runs that attempt
   * there: a reclaimed message), and the whole job as the builder runs it (inline files included),
   * in one step. Throws ERR_CONFLICT when the job already finished or the attempt is stale (placed
   * again elsewhere), ERR_JOB_NOT_FOUND when it is gone.
   */
  claim(jobId: string, attempt: number, bid: string): Promise<JobRecord>;
  /**
   * Appends entry `seq` (0-based in the attempt, at most LOG_ENTRY_MAX_BYTES) to the job's log
   * tail and wakes its followers; the tail keeps a bounded number of entries (older ones are in
   * the store's log segments).
   */
  appendLog(
    jobId: string,
    attempt: number,
    kind: 'out' | 'err',
    data: Uint8Array,
    seq: number,
  ): Promise<void>;
  /**
   * Records the result if `attempt` on `bid` is still the job's current one (compare-and-set),
   * appends the attempt's `end` entry to the job's log and wakes waiters, in one step; false when
   * it was a late duplicate or the job finished meanwhile (dropped: nothing written).
   */
  complete(jobId: string, attempt: number, bid: string, result: JobResultFields): Promise<boolean>;
  /** Gives back the slot the job held on `bid`, once; false when it was not held (any more). */
  releaseSlot(jobId: string, bid: string): Promise<boolean>;
  /**
   * Hands a job this builder will not run back to the farm: it enters the "to place again" set,
   * due now, and a sweeper places it on another builder (the caller then releases its slot).
   */
  handBack(platform: string, jobId: string): Promise<void>;
  /** Acknowledges a pulled message: the LAST step of handling a job. */
  ack(bid: string, ackId: string): Promise<void>;
  /**
   * {@link releaseSlot} then {@link ack}, the end of every job the builder took: in one round
   * trip where the farm can keep their order without waiting between them. Answers the release's.
   */
  finish(jobId: string, bid: string, ackId: string): Promise<boolean>;
  /**
   * Delivers the control messages sent to `bid` (stop requests) until the returned function is
   * called; resolves once listening.
   */
  watchControl(bid: string, onMessage: (msg: ControlMessage) => void): Promise<() => Promise<void>>;
}
