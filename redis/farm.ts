/** {@link FarmState} on Redis: what the gateway needs from the shared state. */
import type { Redis } from 'ioredis';
import type { FarmState } from '../protocol/gateway-port.ts';
import type { BuilderInfo, BuilderView, DrainMark } from '../protocol/farm.ts';
import { redisKeys } from '../protocol/keys.ts';
import { defineScripts } from './scripts.ts';
import { checkReply, isScriptError, SCRIPT_DONE, SCRIPT_ERRORS } from './codes.ts';
import { newJobFields, parseJobHash, STATUS_FIELDS, statusHash } from './job-hash.ts';
import { appendMarker, readLogEntries } from './log-stream.ts';
import { createJobEvents, type JobEvents } from './events.ts';
import { encodeControl } from './control.ts';
import { FINISHED_TTL_SEC } from './ttl.ts';

export interface RedisFarm extends FarmState {
  /** Closes the subscriber connection (the command connection is the caller's). */
  close(): void;
}

/**
 * Wraps two connections: `redis` for commands and `sub` for pub/sub (a connection in subscriber
 * mode can do nothing else). `prefix` namespaces every key (tests use a unique one).
 */
export function createRedisFarm(redis: Redis, sub: Redis, prefix = 'kiln'): RedisFarm {
  const keys = redisKeys(prefix);
  const scripts = defineScripts(redis);
  const events: JobEvents = createJobEvents(sub);
  const now = (): string => new Date().toISOString();
  const listDrains = async (): Promise<Map<string, DrainMark>> => {
    const all = await redis.hgetall(keys.drained);
    return new Map(Object.entries(all).map(([name, raw]) => [name, JSON.parse(raw) as DrainMark]));
  };

  return {
    async placeJob(jobId, platform, toolchain) {
      const r = checkReply(
        await scripts.placeJob(
          keys.leases,
          keys.builders,
          keys.load,
          keys.assignments,
          keys.drained,
          Date.now(),
          platform,
          toolchain,
          jobId,
        ),
        { job: jobId, platform },
      );
      return String(r);
    },
    async releaseSlot(jobId, bid) {
      return (await scripts.releaseSlot(keys.load, keys.assignments, jobId, bid)) === SCRIPT_DONE;
    },
    async builderKey(bid) {
      const raw = await redis.get(keys.builderKey(bid));
      return raw ? new Uint8Array(Buffer.from(raw, 'base64url')) : null;
    },
    async createJob(rec, ttlSec) {
      await redis.multi().hset(keys.job(rec.id), newJobFields(rec)).expire(keys.job(rec.id), ttlSec).exec();
    },
    async getJob(id) {
      return parseJobHash(statusHash(await redis.hmget(keys.job(id), ...STATUS_FIELDS)));
    },
    async deleteJob(id) {
      await redis.del(keys.job(id), keys.jobLog(id));
    },
    async enqueue(bid, msg) {
      await redis.xadd(
        keys.builderStream(bid),
        '*',
        'job',
        msg.jobId,
        'attempt',
        String(msg.attempt),
        'token',
        msg.token,
      );
    },
    async cancelJob(id) {
      const r = await scripts.cancelJob(keys.job(id), now(), FINISHED_TTL_SEC);
      if (r === SCRIPT_ERRORS.NO_JOB) return null;
      checkReply(r, { job: id });
      return String(r) as Awaited<ReturnType<FarmState['cancelJob']>>;
    },
    async signalBuilder(bid, jobId) {
      await redis.publish(keys.builderControl(bid), encodeControl({ type: 'stop', jobId }));
    },
    async expireBuilders(at) {
      const flat = (await scripts.removeBuilders(
        keys.leases,
        keys.builders,
        keys.load,
        keys.assignments,
        at,
        '',
      )) as (string | number)[];
      return unflattenRemoved(flat);
    },
    async requeueJob(id, lostAttempt, maxAttempts, newBid, error) {
      const r = Number(
        await scripts.requeueJob(
          keys.job(id),
          lostAttempt,
          maxAttempts,
          newBid,
          now(),
          JSON.stringify(error),
          FINISHED_TTL_SEC,
        ),
      );
      return isScriptError(r) ? null : r;
    },
    async dropBuilder(bid) {
      await redis.del(keys.builderStream(bid));
    },
    async appendLogMarker(id, kind, attempt) {
      await appendMarker(redis, keys.jobLog(id), kind, attempt, FINISHED_TTL_SEC);
      await redis.publish(keys.jobEvents(id), kind);
    },
    readLog(id, afterId, count) {
      return readLogEntries(redis, keys.jobLog(id), afterId, count);
    },
    async publishDone(id) {
      await redis.publish(keys.jobEvents(id), 'done');
    },
    listenJob(id) {
      return events.listen(keys.jobEvents(id));
    },
    async listBuilders() {
      const [infos, loads, leases, drains] = await Promise.all([
        redis.hgetall(keys.builders),
        redis.hgetall(keys.load),
        redis.zrange(keys.leases, '0', '-1', 'WITHSCORES'),
        listDrains(),
      ]);
      const out: BuilderView[] = [];
      for (let i = 0; i + 1 < leases.length; i += 2) {
        const bid = leases[i]!;
        const raw = infos[bid];
        if (!raw) continue;
        const info = JSON.parse(raw) as BuilderInfo;
        out.push({
          info,
          load: Number(loads[bid] ?? 0),
          leaseExpiresAt: Number(leases[i + 1]),
          drain: drains.get(info.name ?? bid) ?? null,
        });
      }
      return out;
    },
    async drainBuilder(name, mark) {
      await redis.hsetnx(keys.drained, name, JSON.stringify(mark));
      const raw = await redis.hget(keys.drained, name);
      return raw ? (JSON.parse(raw) as DrainMark) : mark;
    },
    async undrainBuilder(name) {
      return (await redis.hdel(keys.drained, name)) === 1;
    },
    listDrains,
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

/** remove-builders-4.lua answers `bid, n, job1..jobn, …`. */
export function unflattenRemoved(flat: (string | number)[]): { bid: string; jobs: string[] }[] {
  const out: { bid: string; jobs: string[] }[] = [];
  for (let i = 0; i < flat.length;) {
    const bid = String(flat[i]);
    const n = Number(flat[i + 1]);
    out.push({ bid, jobs: flat.slice(i + 2, i + 2 + n).map(String) });
    i += 2 + n;
  }
  return out;
}
