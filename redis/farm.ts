/** {@link FarmState} on Redis: what the gateway needs from the shared state. */
import type { RedisConn } from './connect.ts';
import type { FarmState } from '../protocol/gateway-port.ts';
import type { JobMessage, NewJob } from '../protocol/farm.ts';
import { redisKeys } from '../protocol/keys.ts';
import { defineScripts } from './scripts.ts';
import { createRegistry } from './registry.ts';
import { checkReply, isScriptError, SCRIPT_ERRORS } from './codes.ts';
import { newJobFields, parseDoneStatus, parseJobHash, STATUS_FIELDS, statusHash } from './job-hash.ts';
import { appendMarker, readLogEntries } from './log-stream.ts';
import { createJobEvents, type JobEvents } from './events.ts';
import { encodeControl } from './control.ts';
import { FINISHED_TTL_SEC } from './ttl.ts';
import { listSigners, readSigner } from './signers.ts';
import type { SignerRecord } from '../protocol/farm.ts';

/** A job message as stream fields. */
function messageFields(msg: JobMessage): [string, string, string, string, string, string] {
  return ['job', msg.jobId, 'attempt', String(msg.attempt), 'token', msg.token];
}

export interface RedisFarm extends FarmState {
  /** Closes the subscriber connection (the command connection is the caller's). */
  close(): void;
}

/**
 * Wraps two connections: `redis` for commands and `sub` for pub/sub (a connection in subscriber
 * mode can do nothing else). `prefix` namespaces every key (tests use a unique one).
 */
export function createRedisFarm(
  redis: RedisConn,
  sub: RedisConn,
  prefix = 'kiln',
  /** How long finished jobs stay readable. @default FINISHED_TTL_SEC (a day) */
  finishedTtlSec = FINISHED_TTL_SEC,
): RedisFarm {
  const keys = redisKeys(prefix);
  const scripts = defineScripts(redis);
  const events: JobEvents = createJobEvents(sub);
  const registry = createRegistry(redis, scripts, keys);
  const builderKeys = new Map<string, Uint8Array>();
  const signerCache = new Map<string, { rec: SignerRecord; at: number }>();
  const now = (): string => new Date().toISOString();
  // A Cluster client (ioredis `Cluster`, passed where a Redis is typed) cannot run a transaction
  // over keys of several slots.
  const cluster = (redis as { isCluster?: boolean }).isCluster === true;
  let noted = 0;
  /** admit-job-2.lua's KEYS and ARGV for one creation. */
  const admission = (
    tenant: string,
    jobId: string,
    quota: { createPerSec: number; jobsInFlight: number },
    untilMs: number,
  ): { keys: [string, string]; args: (string | number)[] } => {
    const rate = quota.createPerSec;
    return {
      keys: [keys.tenantBucket(tenant), keys.tenantInFlight(tenant)],
      args: [Date.now(), rate, Math.max(1, 2 * rate), quota.jobsInFlight, jobId, untilMs],
    };
  };
  /** Throws the coded refusal of an admission reply (`{1, 0}` passes). */
  const admitted = (
    [code, value]: [number, number],
    tenant: string,
    quota: { jobsInFlight: number },
  ): void => {
    checkReply(code, { tenant, retryAfterMs: value, cap: quota.jobsInFlight });
  };
  const createRecord = async (rec: NewJob, ttlSec: number): Promise<void> => {
    await redis.multi().hset(keys.job(rec.id), newJobFields(rec)).expire(keys.job(rec.id), ttlSec).exec();
  };
  const enqueue = async (bid: string, msg: JobMessage): Promise<void> => {
    await redis.xadd(keys.builderStream(bid), '*', ...messageFields(msg));
  };

  return {
    placeJob: (jobId, platform, toolchain, guardDueAt) =>
      registry.place(jobId, platform, toolchain, guardDueAt),
    releaseSlot: (jobId, bid) => registry.release(jobId, bid),
    async builderKey(bid) {
      // A builder id gets its key once, at registration, and never another: cache it.
      const known = builderKeys.get(bid);
      if (known) return known;
      const raw = await redis.get(keys.builderKey(bid));
      if (!raw) return null;
      const key = new Uint8Array(Buffer.from(raw, 'base64url'));
      if (builderKeys.size >= 10_000) builderKeys.clear();
      builderKeys.set(bid, key);
      return key;
    },
    async signerKey(bid) {
      // A builder id registers one key and never another; a known one is kept for ten minutes.
      const known = signerCache.get(bid);
      if (known && known.at > Date.now() - 600_000) return known.rec;
      const rec = await readSigner(redis, keys, bid);
      if (!rec) return null;
      if (signerCache.size >= 10_000) signerCache.clear();
      signerCache.set(bid, { rec, at: Date.now() });
      return rec;
    },
    listSigners: () => listSigners(redis, keys),
    createJob: createRecord,
    async createAndEnqueue(rec, ttlSec, msg) {
      if (cluster) {
        // Record and stream live on different shards: the message goes once the record is there,
        // the guard once the message is.
        await createRecord(rec, ttlSec);
        await enqueue(rec.bid, msg);
        await registry.creationDone(rec.spec.platform, rec.id);
        return;
      }
      // One server, one connection: commands sent together run in the order sent, so the
      // message follows its record and the guard goes after the message without waiting for any
      // reply (no MULTI: a transaction costs more than the commands, and the order is what matters).
      const id = keys.job(rec.id);
      await Promise.all([
        redis.hset(id, newJobFields(rec)),
        redis.expire(id, ttlSec),
        redis.xadd(keys.builderStream(rec.bid), '*', ...messageFields(msg)),
        registry.creationDone(rec.spec.platform, rec.id),
      ]);
    },
    async getJob(id) {
      return parseJobHash(statusHash(await redis.hmget(keys.job(id), ...STATUS_FIELDS)));
    },
    async deleteJob(id) {
      await redis.del(keys.job(id), keys.jobLog(id));
    },
    enqueue,
    async cancelJob(id) {
      const r = await scripts.cancelJob(keys.job(id), now(), finishedTtlSec);
      if (r === SCRIPT_ERRORS.NO_JOB) return null;
      checkReply(r, { job: id });
      return String(r) as Awaited<ReturnType<FarmState['cancelJob']>>;
    },
    async signalBuilder(bid, jobId) {
      await redis.publish(keys.builderControl(bid), encodeControl({ type: 'stop', jobId }));
    },
    expireBuilders: (at) => registry.expire(at),
    toPlaceAgain: () => registry.toPlaceAgain(),
    placedAgain: (platform, jobId) => registry.placedAgain(platform, jobId),
    async requeueJob(id, lostAttempt, maxAttempts, newBid, error) {
      const r = Number(
        await scripts.requeueJob(
          keys.job(id),
          lostAttempt,
          maxAttempts,
          newBid,
          now(),
          JSON.stringify(error),
          finishedTtlSec,
        ),
      );
      return isScriptError(r) ? null : r;
    },
    async noteRecent(jobId) {
      // Bounded: the newest 1,000 jobs, trimmed on every 32nd job a gateway notes (so at most
      // 1,000 + 32 per gateway are kept; readers take the newest).
      if (++noted % 32 !== 0) await redis.zadd(keys.recent, Date.now(), jobId);
      else
        await Promise.all([
          redis.zadd(keys.recent, Date.now(), jobId),
          redis.zremrangebyrank(keys.recent, 0, -1001),
        ]);
    },
    async recentJobs(count) {
      return redis.zrevrange(keys.recent, 0, count - 1);
    },
    creationDone: (platform, jobId) => registry.creationDone(platform, jobId),
    dueCreations: (at, count) => registry.dueCreations(at, count),
    async assignedTo(platform, jobId) {
      return redis.hget(keys.registry(platform).assign, jobId);
    },
    async placeAgainLater(platform, jobId) {
      await redis.sadd(keys.registry(platform).replace, jobId);
    },
    async dropBuilder(bid) {
      await redis.del(keys.builderStream(bid));
    },
    async appendLogMarker(id, kind, attempt) {
      await appendMarker(redis, keys.jobLog(id), kind, attempt, finishedTtlSec);
      await redis.publish(keys.jobEvents(id), kind);
    },
    readLog(id, afterId, count) {
      return readLogEntries(redis, keys.jobLog(id), afterId, count);
    },
    async publishDone(id) {
      await redis.publish(keys.jobEvents(id), 'done');
    },
    async listenJob(id) {
      const l = await events.listen(keys.jobEvents(id));
      return {
        next: (timeoutMs, signal) => l.next(timeoutMs, signal),
        finished(spec) {
          const status = l.doneStatus();
          if (status === null) return null;
          // The spec as a status read gives it: without the inline files (only builders read those).
          const { inline: _inline, ...rest } = spec;
          return parseDoneStatus(status, rest);
        },
        close: () => l.close(),
      };
    },
    listBuilders: () => registry.list(),
    drainBuilder: (name, mark) => registry.drain(name, mark),
    undrainBuilder: (name) => registry.undrain(name),
    listDrains: () => registry.drains(),
    async claimIdempotencyKey(tenant, key, jobId, ttlSec) {
      const k = keys.idempotency(tenant, key);
      if ((await redis.set(k, jobId, 'EX', ttlSec, 'NX')) === 'OK') return null;
      return redis.get(k);
    },
    async settleIdempotencyKey(tenant, key, jobId, ttlSec) {
      const k = keys.idempotency(tenant, key);
      // Only its owner settles a key; a pending claim lives longer than any creation takes.
      if ((await redis.get(k)) !== jobId) return;
      if (ttlSec > 0) await redis.set(k, jobId, 'EX', ttlSec);
      else await redis.del(k);
    },
    async admitJob(tenant, jobId, quota, untilMs) {
      const a = admission(tenant, jobId, quota, untilMs);
      admitted((await scripts.admitJob(...a.keys, ...a.args)) as [number, number], tenant, quota);
    },
    async admitAndPlace(tenant, jobId, quota, untilMs, platform, toolchain, guardDueAt) {
      const a = admission(tenant, jobId, quota, untilMs);
      if (cluster) {
        // The tenant's keys and the platform's registry live in different slots: two steps.
        admitted((await scripts.admitJob(...a.keys, ...a.args)) as [number, number], tenant, quota);
        return registry.place(jobId, platform, toolchain, guardDueAt);
      }
      const r = await registry.placeAdmitted(jobId, platform, toolchain, guardDueAt, a);
      if (typeof r === 'string') return r;
      admitted(r, tenant, quota);
      throw new Error(`admit-place-job-12.lua answered ${JSON.stringify(r)} for an admitted job`);
    },
    async inFlight(tenant) {
      const flat = await redis.zrange(keys.tenantInFlight(tenant), '0', '-1', 'WITHSCORES');
      const out: { id: string; untilMs: number }[] = [];
      for (let i = 0; i + 1 < flat.length; i += 2) out.push({ id: flat[i]!, untilMs: Number(flat[i + 1]) });
      return out;
    },
    async releaseInFlight(tenant, jobIds) {
      if (jobIds.length > 0)
        await redis.zrem(keys.tenantInFlight(tenant), ...(jobIds as [string, ...string[]]));
    },
    async tryLock(name, ttlMs) {
      return (await redis.set(keys.sweepLock + ':' + name, '1', 'PX', ttlMs, 'NX')) === 'OK';
    },
    async ping() {
      await redis.ping();
    },
    close() {
      events.close();
    },
  };
}
