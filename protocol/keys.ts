/**
 * The ONE place Redis key and channel names are built. Keys that a Lua script touches together
 * share a hash tag, so every script works on Redis Cluster:
 *   {reg}      builder registry: leases, info, load, job assignments
 *   {job:ID}   one job: its state hash and its log stream
 *   {b:BID}    one builder's job stream
 */
export interface Keys {
  /** ZSET builder id → lease expiry (ms since epoch). */
  leases: string;
  /** HASH builder id → BuilderInfo JSON. */
  builders: string;
  /** HASH builder id → slots in use. */
  load: string;
  /** HASH job id → builder id, for every placed job not yet released. */
  assignments: string;
  /**
   * HASH builder name → {@link DrainMark} JSON: builders an admin set draining. Kept apart from
   * the info a builder rewrites on every heartbeat, and by name, so it outlives the agent's restart.
   */
  drained: string;
  /** STRING a builder's job-token key (base64url), kept after its lease ends so old tokens verify. */
  builderKey(bid: string): string;
  /** STREAM of job messages for one builder (consumer group {@link STREAM_GROUP}). */
  builderStream(bid: string): string;
  /** Pub/sub channel for control messages to one builder (cancel). */
  builderControl(bid: string): string;
  /** HASH of one job's state. */
  job(id: string): string;
  /** STREAM of one job's stdout/stderr chunks, ending with an `end` entry. */
  jobLog(id: string): string;
  /** Pub/sub channel: `log` when output was appended, `done` when the job finished. */
  jobEvents(id: string): string;
  /** Lock so one gateway at a time sweeps expired builders. */
  sweepLock: string;
  /** Pattern matching every job-events channel (for one subscriber per gateway). */
  jobEventsPattern: string;
  /** HASH `name@platform` → toolchain preset JSON (protocol/toolchain.ts). */
  presets: string;
  /** STRING who first uploaded a toolchain (`{ sub, tenant }` JSON): they (or an admin) may delete it. */
  toolchainOwner(digest: string): string;
  /** STRING the job a tenant's `Idempotency-Key` made (or is making): a retried POST finds it. */
  idempotency(tenant: string, key: string): string;
}

/** The consumer group every builder stream uses. */
export const STREAM_GROUP = 'kiln';

/** Builds the key names under `prefix` (default `kiln`; tests use a unique prefix each). */
export function redisKeys(prefix = 'kiln'): Keys {
  const p = prefix;
  return {
    leases: `${p}:{reg}:leases`,
    builders: `${p}:{reg}:builders`,
    load: `${p}:{reg}:load`,
    assignments: `${p}:{reg}:assignments`,
    drained: `${p}:{reg}:drained`,
    builderKey: (bid) => `${p}:bkey:${bid}`,
    builderStream: (bid) => `${p}:{b:${bid}}:jobs`,
    builderControl: (bid) => `${p}:ctl:${bid}`,
    job: (id) => `${p}:{job:${id}}`,
    jobLog: (id) => `${p}:{job:${id}}:log`,
    jobEvents: (id) => `${p}:ev:${id}`,
    sweepLock: `${p}:sweep-lock`,
    jobEventsPattern: `${p}:ev:*`,
    presets: `${p}:{reg}:presets`,
    toolchainOwner: (digest) => `${p}:tco:${digest}`,
    idempotency: (tenant, key) => `${p}:idem:${encodeURIComponent(tenant)}:${encodeURIComponent(key)}`,
  };
}
