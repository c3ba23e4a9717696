/**
 * Which Redis the farm tests run on: one redis-server (the default), or with
 * `KILN_TEST_REDIS=cluster` a Redis Cluster of three masters on loopback, so the same API, port
 * conformance and e2e files prove that every script and multi-key command stays in one slot.
 * Every farm helper (useTestRedis, useApiGateway, startDevFarm through {@link farmRedis}) asks here.
 */
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { startLocalRedis, type LocalRedis } from '../../wiring/redis-server.ts';
import { startLocalCluster } from '../../wiring/redis-cluster.ts';
import type { RedisConn } from '../../redis/connect.ts';

/** True when this run's farms use a Redis Cluster. */
export const ON_CLUSTER = process.env.KILN_TEST_REDIS === 'cluster';

/** Masters of the test cluster. */
export const CLUSTER_MASTERS = 3;

/** Starts this run's kind of Redis (stopped by its `stop()`). */
export function startTestRedis(): Promise<LocalRedis> {
  return ON_CLUSTER ? startLocalCluster(CLUSTER_MASTERS) : startLocalRedis();
}

/** The dev-farm options that give it this run's kind of Redis. */
export const farmRedis: { redisCluster?: number } = ON_CLUSTER ? { redisCluster: CLUSTER_MASTERS } : {};

/** A connection to `local` (a Cluster client when it is a cluster); the caller disconnects it. */
export function openConn(local: LocalRedis, opts: RedisOptions = {}): RedisConn {
  if (!local.cluster) return new Redis(local.url, opts);
  const nodes = local.cluster.map((s) => ({ host: '127.0.0.1', port: Number(s.split(':')[1]) }));
  return new Cluster(nodes, { redisOptions: opts });
}

/** Every key matching `pattern`, on every master when it is a cluster. */
export async function scanAll(conn: RedisConn, pattern: string): Promise<string[]> {
  const nodes = conn instanceof Cluster ? conn.nodes('master') : [conn];
  const out: string[] = [];
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, found] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
      out.push(...found);
      cursor = next;
    } while (cursor !== '0');
  }
  return out;
}

/** Deletes every key matching `pattern` (one key a command: keys of different slots). */
export async function deleteAll(conn: RedisConn, pattern: string): Promise<void> {
  for (const k of await scanAll(conn, pattern)) await conn.unlink(k);
}
