/**
 * A real redis-server for one test file (started in `before`, stopped in `after`) and, per test,
 * a farm on it under a unique key prefix whose keys are removed again by `cleanup`. With
 * `KILN_TEST_REDIS=cluster` it is a 3-master Redis Cluster instead (test/helpers/redis-mode.ts).
 */
import { after, before } from 'node:test';
import { randomBytes } from 'node:crypto';
import type { LocalRedis } from '../../wiring/redis-server.ts';
import type { RedisConn } from '../../redis/connect.ts';
import { deleteAll, openConn, startTestRedis } from './redis-mode.ts';
import { createRedisFarm } from '../../redis/farm.ts';
import { createRedisBuilderFarm } from '../../redis/builder-farm.ts';
import { redisKeys, STREAM_GROUP } from '../../protocol/keys.ts';
import type { FarmUnderTest } from '../redis/farm-under-test.ts';

export interface TestRedis {
  /** The server's URL (valid once `before` ran). */
  url(): string;
  /** A new connection, closed by `after` at the latest. */
  connect(): RedisConn;
  /** A unique key prefix. */
  prefix(): string;
  /** Deletes every key under `prefix`. */
  clear(prefix: string): Promise<void>;
  /** Both farm ports on their own connections and a fresh prefix. */
  farm(): Promise<FarmUnderTest>;
}

/** Registers the server's `before`/`after` hooks in the calling test file. */
export function useTestRedis(): TestRedis {
  let server: LocalRedis | undefined;
  const open = new Set<RedisConn>();
  before(async () => {
    server = await startTestRedis();
  });
  after(async () => {
    for (const c of open) c.disconnect();
    await server?.stop();
  });

  const t: TestRedis = {
    url() {
      if (!server) throw new Error('the test redis-server is not started yet (call from a test or hook)');
      return server.url;
    },
    connect() {
      t.url();
      const c = openConn(server!);
      open.add(c);
      return c;
    },
    prefix: () => `t${randomBytes(6).toString('hex')}`,
    async clear(prefix) {
      const c = t.connect();
      await deleteAll(c, `${prefix}:*`);
      c.disconnect();
      open.delete(c);
    },
    async farm() {
      const prefix = t.prefix();
      const conns = [t.connect(), t.connect(), t.connect(), t.connect()] as const;
      const [redis, gatewaySub, pull, builderSub] = conns;
      const gateway = createRedisFarm(redis, gatewaySub, prefix);
      const builder = createRedisBuilderFarm({ redis, pull, sub: builderSub }, prefix);
      const keys = redisKeys(prefix);
      return {
        gateway,
        builder,
        async unacked(bid) {
          const [count] = (await redis.xpending(keys.builderStream(bid), STREAM_GROUP)) as [number];
          return Number(count);
        },
        async cleanup() {
          gateway.close();
          await t.clear(prefix);
          for (const c of conns) {
            c.disconnect();
            open.delete(c);
          }
        },
      };
    },
  };
  return t;
}
