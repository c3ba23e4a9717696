/**
 * The shapes the gateway, the Redis code and the builders share: a job as stored, its log
 * entries, what a builder advertises and the messages on its stream. Runtime-neutral, types only;
 * the two ports that use them are protocol/gateway-port.ts and protocol/builder-port.ts.
 */
import type { GrantedJobSpec, JobState, BlobRef, InlineResult } from './job.ts';
import type { ResultSignature } from './result-signature.ts';

/** A job as stored. */
export interface JobRecord {
  id: string;
  spec: GrantedJobSpec;
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
  rejectedOutputs: { path: string; reason: string }[];
  logTruncated: boolean;
  cancelRequested: boolean;
  /** The action digest, for cacheable jobs. */
  action: string | null;
  /** Where a builder stores the result of a successful cacheable job. */
  cacheScope: string | null;
  /** Output and files inline, for jobs that asked for `inlineResult`. */
  result: InlineResult | null;
  /** The builder's signature over the result (protocol/result-signature.ts); null before it ends. */
  signature: ResultSignature | null;
}

/** What creating a job records. */
export type NewJob = Pick<JobRecord, 'id' | 'spec' | 'bid' | 'sub' | 'tenant' | 'createdAt'> &
  Partial<Pick<JobRecord, 'action' | 'cacheScope'>>;

/** The record of a job just created (queued, first attempt): what reading it back would give. */
export function queuedRecord(job: NewJob): JobRecord {
  return {
    ...job,
    state: 'queued',
    attempt: 1,
    startedAt: null,
    finishedAt: null,
    exitCode: null,
    signal: null,
    error: null,
    outputs: null,
    missingOutputs: [],
    rejectedOutputs: [],
    logTruncated: false,
    cancelRequested: false,
    action: job.action ?? null,
    cacheScope: job.cacheScope ?? null,
    result: null,
    signature: null,
  };
}

/** The result fields a builder writes when a job ends. */
export interface JobResultFields {
  state: Exclude<JobState, 'queued' | 'running' | 'cached'>;
  exitCode: number | null;
  signal: string | null;
  error: { code: string; message: string } | null;
  outputs: JobRecord['outputs'];
  missingOutputs: string[];
  rejectedOutputs: { path: string; reason: string }[];
  logTruncated: boolean;
  finishedAt: string;
  /** Inline stdout/stderr/files, when the job asked for them. */
  result?: JobRecord['result'];
  /** The builder's signature over this result (set last, over the fields above). */
  signature?: ResultSignature;
  /**
   * Where the attempt's time went on the builder: ms since the epoch (fractional) when the message
   * was pulled, the attempt claimed, the sandbox started and ended, and the result sent
   * (`pulled`, `claimed`, `sandbox`, `ran`, `reporting`). Kept in the job hash (`trace`) for
   * bench/overhead and operators; no status read fetches it.
   */
  trace?: Record<string, number>;
}

/** One entry of a job's log stream. */
export type LogEntry =
  | {
      id: string;
      kind: 'out' | 'err';
      attempt: number;
      data: Uint8Array;
      /** Place of the entry in its attempt's log (protocol/log-segment.ts); absent from old builders. */
      seq?: number;
    }
  | { id: string; kind: 'restart'; attempt: number }
  | { id: string; kind: 'end'; attempt: number };

/** What a builder advertises in the registry. */
export interface BuilderInfo {
  /** `<name>-<random>`: a new one at every start of the agent. */
  id: string;
  /** The configured name (builder.toml `name`): stable across restarts, what a drain names. */
  name: string;
  platform: string;
  slots: number;
  version: string;
  hostname: string;
  /** Set by the builder itself; an admin's drain is the `drained` hash (protocol/keys.ts). */
  draining: boolean;
  /** Digests of toolchains unpacked and ready on this builder. */
  warm: string[];
  startedAt: string;
  /**
   * The builder's result-signing public key (Ed25519, base64url of 32 raw bytes): a new one per
   * registration, like the job-token key. Absent from builders older than signed results.
   */
  signingKey?: string;
}

/** A builder's result-signing key as the farm keeps it (for a while after the builder leaves). */
export interface SignerRecord {
  /** The builder id that registered it. */
  builder: string;
  name: string;
  platform: string;
  /** base64url of the raw 32-byte Ed25519 public key. */
  key: string;
  registeredAt: string;
  /** Last registration or heartbeat (ms since epoch); the key is dropped SIGNER_KEY_KEPT_SEC after. */
  lastSeen: number;
}

/** A registered builder as the gateway sees it. */
export interface BuilderView {
  info: BuilderInfo;
  load: number;
  leaseExpiresAt: number;
  /** Set when an admin drained this builder's name. */
  drain: DrainMark | null;
}

/** Who set a builder draining, and when (ISO time). */
export interface DrainMark {
  by: string;
  at: string;
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
  /**
   * The job as its completion published it, once that event has come (the status fields read in
   * the same step as the result was written; `spec`, which never changes, is the caller's); null
   * before, or when the event carried no status (a cancel, the sweeper): then read the record.
   */
  finished(spec: JobRecord['spec']): JobRecord | null;
  close(): void;
}
