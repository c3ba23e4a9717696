/** What a builder agent does in Redis: lease, pull, state transitions, logs. */
import type { Redis } from 'ioredis';
import type { BuilderInfo } from '../protocol/keys.ts';
import { STREAM_GROUP } from '../protocol/keys.ts';
import type { JobMessage, JobRecord } from '../gateway/ports.ts';
import type { RedisFarm } from './farm.ts';
import { FINISHED_TTL_SEC } from './farm.ts';
import { scriptError, LUA } from './codes.ts';
import { parseJobHash, resultPairs, type JobResultFields } from './job-hash.ts';

/** How long a builder's token key outlives its last heartbeat, so tokens it signed still verify. @default 2 days */
export const BUILDER_KEY_TTL_SEC = 2 * 86_400;

/** Registers a builder: its job stream and group, its key, its info and lease. */
export async function registerBuilder(
  farm: RedisFarm,
  info: BuilderInfo,
  key: Uint8Array,
  leaseMs: number,
): Promise<void> {
  const { redis, keys, scripts } = farm;
  await redis
    .xgroup('CREATE', keys.builderStream(info.id), STREAM_GROUP, '0', 'MKSTREAM')
    .catch((err: Error) => {
      if (!/BUSYGROUP/.test(err.message)) throw err;
    });
  await redis.set(
    keys.builderKey(info.id),
    Buffer.from(key).toString('base64url'),
    'EX',
    BUILDER_KEY_TTL_SEC,
  );
  const now = Date.now();
  await scripts.registerBuilder(
    keys.leases,
    keys.builders,
    keys.load,
    info.id,
    JSON.stringify(info),
    now + leaseMs,
    now,
    'new',
  );
}

/** Renews the lease (and refreshes the advertised info); throws ERR_CONFLICT when the lease was lost. */
export async function renewLease(farm: RedisFarm, info: BuilderInfo, leaseMs: number): Promise<void> {
  const { redis, keys, scripts } = farm;
  const now = Date.now();
  const r = await scripts.registerBuilder(
    keys.leases,
    keys.builders,
    keys.load,
    info.id,
    JSON.stringify(info),
    now + leaseMs,
    now,
    'renew',
  );
  if (r === LUA.LEASE_LOST) throw scriptError('renew', r, info.id);
  await redis.expire(keys.builderKey(info.id), BUILDER_KEY_TTL_SEC);
}

/** Ends the lease at once so the sweeper places whatever this builder still held elsewhere. */
export async function endLease(farm: RedisFarm, bid: string): Promise<void> {
  await farm.redis.zadd(farm.keys.leases, 'XX', 0, bid);
}

/** A pulled message and its stream id (needed to acknowledge it). */
export interface Pulled extends JobMessage {
  streamId: string;
}

/**
 * Blocks up to `blockMs` for the next messages on the builder's stream. `conn` must be a
 * connection used for nothing else while it blocks.
 */
export async function pullJobs(
  conn: Redis,
  farm: RedisFarm,
  bid: string,
  count: number,
  blockMs: number,
): Promise<Pulled[]> {
  const res = (await conn.xreadgroup(
    'GROUP',
    STREAM_GROUP,
    bid,
    'COUNT',
    count,
    'BLOCK',
    blockMs,
    'STREAMS',
    farm.keys.builderStream(bid),
    '>',
  )) as [string, [string, string[]][]][] | null;
  const out: Pulled[] = [];
  for (const [, entries] of res ?? []) {
    for (const [streamId, fields] of entries) {
      const f: Record<string, string> = {};
      for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i]!] = fields[i + 1]!;
      out.push({ streamId, jobId: f.job ?? '', attempt: Number(f.attempt ?? 0), token: f.token ?? '' });
    }
  }
  return out;
}

/** Acknowledges a message: the LAST step of handling a job. */
export async function ackJob(farm: RedisFarm, bid: string, streamId: string): Promise<void> {
  await farm.redis
    .multi()
    .xack(farm.keys.builderStream(bid), STREAM_GROUP, streamId)
    .xdel(farm.keys.builderStream(bid), streamId)
    .exec();
}

/** queued → running for this attempt; returns the script code (1 started, negative: do not run). */
export async function startJob(
  farm: RedisFarm,
  jobId: string,
  attempt: number,
  bid: string,
): Promise<number> {
  return Number(await farm.scripts.startJob(farm.keys.job(jobId), attempt, bid, new Date().toISOString()));
}

/** Records the result (compare-and-set); false when it was a late duplicate and was dropped. */
export async function completeJob(
  farm: RedisFarm,
  jobId: string,
  attempt: number,
  bid: string,
  result: JobResultFields,
): Promise<boolean> {
  const r = Number(
    await farm.scripts.completeJob(
      farm.keys.job(jobId),
      attempt,
      bid,
      FINISHED_TTL_SEC,
      ...resultPairs(result),
    ),
  );
  if (r === 1) await farm.publishDone(jobId);
  return r === 1;
}

/** Appends output to the job's log stream and wakes its followers. */
export async function appendLog(
  farm: RedisFarm,
  jobId: string,
  attempt: number,
  kind: 'o' | 'e',
  data: Uint8Array,
): Promise<void> {
  const key = farm.keys.jobLog(jobId);
  await farm.redis
    .multi()
    .xadd(key, '*', 'k', kind, 'a', String(attempt), 'd', Buffer.from(data))
    .expire(key, FINISHED_TTL_SEC)
    .exec();
  await farm.redis.publish(farm.keys.jobEvents(jobId), 'log');
}

/** True when someone asked to stop the job. */
export async function cancelRequested(farm: RedisFarm, jobId: string): Promise<boolean> {
  return (await farm.redis.hget(farm.keys.job(jobId), 'cancel')) === '1';
}

/** The whole job as the builder runs it, inline files included. */
export async function jobToRun(farm: RedisFarm, jobId: string): Promise<JobRecord | null> {
  return parseJobHash(await farm.redis.hgetall(farm.keys.job(jobId)));
}
