/**
 * The ONE place Redis key and channel names are built. Keys that a Lua script touches together
 * share a hash tag, so every script works on Redis Cluster:
 *   {p:PLAT}   one platform's builder registry: leases, info, load, free slots, warm sets,
 *              job assignments, drains, jobs to place again, creation guards (one shard per platform)
 *   {reg}      presets
 *   {job:ID}   one job: its state hash and its log stream
 *   {b:BID}    one builder's job stream
 *   {sig}      builders' result-signing public keys and their index (kept after a builder leaves)
 */
export interface Keys {
  /** The builder registry of one platform, under its own hash tag. */
  registry(platform: string): RegistryKeys;
  /** HASH builder id → its platform (to find a builder's registry from its id alone). */
  builderPlatform: string;
  /** STRING a builder's job-token key (base64url), kept after its lease ends so old tokens verify. */
  builderKey(bid: string): string;
  /**
   * STRING a builder's result-signing key (SignerRecord JSON, protocol/farm.ts), kept
   * SIGNER_KEY_KEPT_SEC after its last heartbeat so results it signed are still known as its.
   */
  signerKey(bid: string): string;
  /** ZSET builder id → last registration or heartbeat (ms) of every builder with a signing key. */
  signers: string;
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
  /** ZSET job id → creation time (ms) of the most recent jobs (a bounded list for the dashboard). */
  recent: string;
  /** STRING the job a tenant's `Idempotency-Key` made (or is making): a retried POST finds it. */
  idempotency(tenant: string, key: string): string;
  /** HASH a tenant's job-creation token bucket (`tokens`, `ts`). */
  tenantBucket(tenant: string): string;
  /** ZSET a tenant's jobs in flight: job id → time (ms) after which it no longer counts. */
  tenantInFlight(tenant: string): string;
  /** HASH pot name → lease JSON (builders/freebsd/leases.ts) of every kiln pot on one FreeBSD host. */
  potLeases(host: string): string;
}

/**
 * One platform's registry (all under `{p:PLATFORM}`). Placement reads only `free` (or a warm
 * set) and the lease of its head, so it costs O(log N), not a walk over every builder.
 */
export interface RegistryKeys {
  /** ZSET builder id → lease expiry (ms since epoch). */
  leases: string;
  /** HASH builder id → BuilderInfo JSON. */
  builders: string;
  /** HASH builder id → slots in use. */
  load: string;
  /** HASH builder id → slots it has. */
  slots: string;
  /** HASH builder id → the digests of its warm toolchains, space separated. */
  warmof: string;
  /** ZSET builder id → used/slots, for every live, non-draining builder with a free slot. */
  free: string;
  /**
   * HASH builder NAME → drain mark JSON: builders an admin set draining, by name so the mark
   * outlives the agent's restart, apart from what a heartbeat rewrites. Written to every platform.
   */
  drained: string;
  /** HASH builder id → its name. */
  names: string;
  /** HASH builder id → 1 while the builder itself drains (shutting down). */
  selfdrain: string;
  /** HASH job id → builder id, for every placed job not yet released. */
  assign: string;
  /** SET job ids whose builder was removed, until each is placed again or failed. */
  replace: string;
  /**
   * ZSET job id → when the creation guard of a job being created is due (ms): set by placement
   * with the slot, removed once the job's message is sent (gateway/create-job.ts, sweeper.ts).
   */
  creating: string;
  /** Prefix of the ZSETs `free` ∩ has-toolchain-warm: `<warmPrefix><digest>`. */
  warmPrefix: string;
  /** Prefix of the SETs of jobs one builder holds: `<jobsPrefix><builder id>`. */
  jobsPrefix: string;
}

/** The consumer group every builder stream uses. */
export const STREAM_GROUP = 'kiln';

/** Builds the key names under `prefix` (default `kiln`; tests use a unique prefix each). */
export function redisKeys(prefix = 'kiln'): Keys {
  const p = prefix;
  return {
    registry: (platform) => {
      const r = `${p}:{p:${platform}}`;
      return {
        leases: `${r}:leases`,
        builders: `${r}:builders`,
        load: `${r}:load`,
        slots: `${r}:slots`,
        warmof: `${r}:warmof`,
        free: `${r}:free`,
        drained: `${r}:drained`,
        names: `${r}:names`,
        selfdrain: `${r}:selfdrain`,
        assign: `${r}:assign`,
        replace: `${r}:replace`,
        creating: `${r}:creating`,
        warmPrefix: `${r}:warm:`,
        jobsPrefix: `${r}:jobs:`,
      };
    },
    builderPlatform: `${p}:bplat`,
    builderKey: (bid) => `${p}:bkey:${bid}`,
    signerKey: (bid) => `${p}:{sig}:key:${bid}`,
    signers: `${p}:{sig}:signers`,
    builderStream: (bid) => `${p}:{b:${bid}}:jobs`,
    builderControl: (bid) => `${p}:ctl:${bid}`,
    job: (id) => `${p}:{job:${id}}`,
    jobLog: (id) => `${p}:{job:${id}}:log`,
    jobEvents: (id) => `${p}:ev:${id}`,
    sweepLock: `${p}:sweep-lock`,
    jobEventsPattern: `${p}:ev:*`,
    presets: `${p}:{reg}:presets`,
    toolchainOwner: (digest) => `${p}:tco:${digest}`,
    tenantBucket: (tenant) => `${p}:{t:${encodeURIComponent(tenant)}}:bucket`,
    tenantInFlight: (tenant) => `${p}:{t:${encodeURIComponent(tenant)}}:inflight`,
    recent: `${p}:recent`,
    idempotency: (tenant, key) => `${p}:idem:${encodeURIComponent(tenant)}:${encodeURIComponent(key)}`,
    potLeases: (host) => `${p}:pots:${host}`,
  };
}
