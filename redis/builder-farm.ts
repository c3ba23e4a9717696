/** {@link BuilderFarm} on Redis: what a builder agent does in the shared state. */
import type { RedisConn } from './connect.ts';
import type { BuilderFarm, ControlMessage, PulledJob } from '../protocol/builder-port.ts';
import { redisKeys, STREAM_GROUP } from '../protocol/keys.ts';
import { defineScripts } from './scripts.ts';
import { createRegistry } from './registry.ts';
import { KilnError } from '../protocol/errors.ts';
import { checkReply, SCRIPT_DONE } from './codes.ts';
import { bufferHash, parseJobHash, resultPairs } from './job-hash.ts';
import { decodeControl } from './control.ts';
import { recordSigner, renewSigner } from './signers.ts';
import { BUILDER_KEY_TTL_SEC, FINISHED_TTL_SEC } from './ttl.ts';
import { LOG_ENTRY_MAX_BYTES, LOG_SEGMENT_ENTRIES } from '../protocol/log-segment.ts';

/**
 * Entries of a job's log tail: as many full entries as fit in `bytes`, and never fewer than two
 * segments' worth, so an entry leaves the tail only once its segment is in the store.
 */
export function logTailEntries(bytes: number): number {
  return Math.max(2 * LOG_SEGMENT_ENTRIES, Math.floor(bytes / LOG_ENTRY_MAX_BYTES));
}

export interface BuilderFarmConnections {
  /** For commands. */
  redis: RedisConn;
  /** Used only for the blocking pull. */
  pull: RedisConn;
  /** In subscriber mode, for control messages (may be shared with other subscribers). */
  sub: RedisConn;
}

export interface BuilderFarmOptions {
  /** Bytes of log kept in Redis per job (the rest is in the store's segments). @default 4 MiB */
  logTailBytes?: number;
  /** How long finished jobs stay readable. @default FINISHED_TTL_SEC (a day) */
  finishedTtlSec?: number;
}

/** Stream entries as job messages (an entry deleted meanwhile comes back without fields: skipped). */
function parseEntries(entries: ([string, string[] | null] | null)[]): PulledJob[] {
  const out: PulledJob[] = [];
  for (const e of entries) {
    if (!e || !e[1]) continue;
    const [ackId, fields] = e;
    const f: Record<string, string> = {};
    for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i]!] = fields[i + 1]!;
    out.push({ ackId, jobId: f.job ?? '', attempt: Number(f.attempt ?? 0), token: f.token ?? '' });
  }
  return out;
}

/** Builds the builder's port on three connections; `prefix` namespaces every key. @default 'kiln' */
export function createRedisBuilderFarm(
  c: BuilderFarmConnections,
  prefix = 'kiln',
  opts: BuilderFarmOptions = {},
): BuilderFarm {
  const { redis } = c;
  const finishedTtlSec = opts.finishedTtlSec ?? FINISHED_TTL_SEC;
  const tailEntries = logTailEntries(opts.logTailBytes ?? 4 << 20);
  const keys = redisKeys(prefix);
  const scripts = defineScripts(redis);

  const registry = createRegistry(redis, scripts, keys);
  // A Cluster client (ioredis `Cluster`, passed where a Redis is typed) runs no transaction or
  // ordered pipeline over keys of several slots.
  const cluster = (redis as { isCluster?: boolean }).isCluster === true;
  const ack = async (bid: string, ackId: string): Promise<void> => {
    const stream = keys.builderStream(bid);
    await redis.multi().xack(stream, STREAM_GROUP, ackId).xdel(stream, ackId).exec();
  };

  return {
    async register(info, key, leaseMs) {
      await redis
        .xgroup('CREATE', keys.builderStream(info.id), STREAM_GROUP, '0', 'MKSTREAM')
        .catch((err: Error) => {
          if (!/BUSYGROUP/.test(err.message)) throw err;
        });
      const encoded = Buffer.from(key).toString('base64url');
      await redis.set(keys.builderKey(info.id), encoded, 'EX', BUILDER_KEY_TTL_SEC);
      await recordSigner(redis, keys, info);
      await registry.lease(info, leaseMs, 'new');
    },

    async renew(info, leaseMs) {
      // A heartbeat is never queued while disconnected: sent later, its clock would be stale and
      // a chain of them would keep a lease alive through an outage longer than the lease.
      if (redis.status !== 'ready')
        throw new Error(`Redis is not connected (${redis.status}): heartbeat not sent`);
      await registry.lease(info, leaseMs, 'renew');
      await Promise.all([
        redis.expire(keys.builderKey(info.id), BUILDER_KEY_TTL_SEC),
        renewSigner(redis, keys, info),
      ]);
    },

    endLease: (bid) => registry.endLease(bid),

    pull: (bid, count, blockMs) => pullMessages(c.pull, keys.builderStream(bid), bid, count, blockMs),

    async reclaim(bid, minIdleMs, count) {
      const res = (await redis.xautoclaim(
        keys.builderStream(bid),
        STREAM_GROUP,
        bid,
        minIdleMs,
        '0-0',
        'COUNT',
        count,
      )) as [string, ([string, string[] | null] | null)[]];
      return parseEntries(res[1] ?? []);
    },

    async readJob(jobId) {
      const { fields, inlineData } = bufferHash(await redis.hgetallBuffer(keys.job(jobId)));
      return parseJobHash(fields, inlineData);
    },

    async claim(jobId, attempt, bid) {
      // Bytes, not text: the hash's inlineData (the inline files) is binary.
      const r = await scripts.startJobBuffer(keys.job(jobId), attempt, bid, new Date().toISOString());
      const { fields, inlineData } = bufferHash(checkReply(r, { job: jobId }) as Buffer[]);
      const rec = parseJobHash(fields, inlineData);
      if (!rec) throw new KilnError('ERR_JOB_NOT_FOUND', `no job ${jobId}`);
      return rec;
    },

    async appendLog(jobId, attempt, kind, data, seq) {
      const key = keys.jobLog(jobId);
      const k = kind === 'out' ? 'o' : 'e';
      await redis
        .multi()
        .xadd(
          key,
          'MAXLEN',
          tailEntries,
          '*',
          'k',
          k,
          'a',
          String(attempt),
          's',
          String(seq),
          'd',
          Buffer.from(data),
        )
        .expire(key, finishedTtlSec)
        .exec();
      await redis.publish(keys.jobEvents(jobId), 'log');
    },

    async complete(jobId, attempt, bid, result) {
      const r = await scripts.completeJob(
        keys.job(jobId),
        keys.jobLog(jobId),
        attempt,
        bid,
        finishedTtlSec,
        keys.jobEvents(jobId),
        ...resultPairs(result),
      );
      return r === SCRIPT_DONE;
    },

    releaseSlot: (jobId, bid) => registry.release(jobId, bid),

    async handBack(platform, jobId) {
      await redis.sadd(keys.registry(platform).replace, jobId);
    },

    ack: (bid, ackId) => ack(bid, ackId),

    async finish(jobId, bid, ackId) {
      // The slot and the stream live on different shards: the ack goes once the release is in.
      if (cluster) {
        const released = await registry.release(jobId, bid);
        await ack(bid, ackId);
        return released;
      }
      // One server, one connection: commands sent together run in the order sent, so the ack
      // follows the release without waiting for its reply (as the gateway's createAndEnqueue).
      // XACK and XDEL go as plain commands, not MULTI: auto-pipelining batches those with the
      // release's EVALSHA in order, where a transaction would be written ahead of the batch.
      const stream = keys.builderStream(bid);
      const [released] = await Promise.all([
        registry.release(jobId, bid),
        redis.xack(stream, STREAM_GROUP, ackId),
        redis.xdel(stream, ackId),
      ]);
      return released;
    },

    watchControl: (bid, onMessage) => watchChannel(c.sub, keys.builderControl(bid), onMessage),
  };
}

/** Blocks up to `blockMs` for at most `count` new messages of `stream` for consumer `bid`. */
async function pullMessages(
  conn: RedisConn,
  stream: string,
  bid: string,
  count: number,
  blockMs: number,
): Promise<PulledJob[]> {
  const res = (await conn.xreadgroup(
    'GROUP',
    STREAM_GROUP,
    bid,
    'COUNT',
    count,
    'BLOCK',
    blockMs,
    'STREAMS',
    stream,
    '>',
  )) as [string, [string, string[]][]][] | null;
  const out: PulledJob[] = [];
  for (const [, entries] of res ?? []) {
    for (const [ackId, fields] of entries) {
      const f: Record<string, string> = {};
      for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i]!] = fields[i + 1]!;
      out.push({ ackId, jobId: f.job ?? '', attempt: Number(f.attempt ?? 0), token: f.token ?? '' });
    }
  }
  return out;
}

/** Delivers the well-formed control messages of `channel` until the returned function is called. */
async function watchChannel(
  sub: RedisConn,
  channel: string,
  onMessage: (msg: ControlMessage) => void,
): Promise<() => Promise<void>> {
  const listener = (ch: string, raw: string): void => {
    if (ch !== channel) return;
    const msg = decodeControl(raw);
    if (msg) onMessage(msg);
  };
  sub.on('message', listener);
  await sub.subscribe(channel);
  return async () => {
    sub.off('message', listener);
    await sub.unsubscribe(channel).catch(() => undefined);
  };
}
