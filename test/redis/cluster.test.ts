/**
 * The farm's Redis as a Redis Cluster (3 masters on loopback, wiring/redis-cluster.ts): the config
 * key, the one connection factory (redis/connect.ts) with a clear error for either mistake (a
 * cluster named as one server, one server named as a cluster), and a gateway whose master of the
 * registry's slot is killed: 503 + Retry-After at once, then serving again once the node is back.
 * The API suite, both port conformance suites and an e2e file run on a cluster too: scripts/test.mjs.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster } from 'ioredis';
import { loadConfig } from '../../wiring/load-config.ts';
import { gatewayConfigSchema } from '../../gateway/config.ts';
import { builderConfigSchema } from '../../builders/core/config.ts';
import { connectRedis, type RedisConn } from '../../redis/connect.ts';
import { startLocalCluster, type LocalRedisCluster } from '../../wiring/redis-cluster.ts';
import { startLocalRedis, redisSection, type LocalRedis } from '../../wiring/redis-server.ts';
import { wireGateway, type RunningGateway } from '../../wiring/gateway.ts';
import { createRedisBuilderFarm } from '../../redis/builder-farm.ts';
import { redisKeys } from '../../protocol/keys.ts';
import { codeOf } from '../helpers/http.ts';

const TOKEN = 'cluster-test-token';
const storage = { type: 'local', dir: '/var/lib/kiln/store' };

describe('Redis Cluster', { timeout: 120_000 }, () => {
  let cluster: LocalRedisCluster;
  let single: LocalRedis;
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kiln-cluster-test-'));
    [cluster, single] = await Promise.all([startLocalCluster(3, { appendonly: true }), startLocalRedis()]);
  });
  after(async () => {
    await cluster?.stop();
    await single?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('config: redis.cluster is true or seed nodes, each host:port, also from the environment', () => {
    const base = { redis: { url: 'redis://10.0.0.1:7000' }, storage };
    const env = { KILN_REDIS__CLUSTER: '["10.0.0.2:7000", "[::1]:7001"]' };
    assert.deepEqual(loadConfig(builderConfigSchema, { base, env }).redis.cluster, [
      '10.0.0.2:7000',
      '[::1]:7001',
    ]);
    assert.equal(
      loadConfig(builderConfigSchema, { base, env: { KILN_REDIS__CLUSTER: 'true' } }).redis.cluster,
      true,
    );
    assert.equal(loadConfig(builderConfigSchema, { base, env: {} }).redis.cluster, false);
    assert.throws(
      () => loadConfig(gatewayConfigSchema, { base, env: { KILN_REDIS__CLUSTER: '["nope"]' } }),
      (err: Error & { code?: string }) => err.code === 'ERR_CONFIG' && /redis\.cluster/.test(err.message),
    );
  });

  it('connects through one seed, reaches every master, and says so when the kind is wrong', async () => {
    const conn = await connectRedis({ url: cluster.url, cluster: true });
    try {
      assert.ok(conn instanceof Cluster);
      assert.equal(conn.nodes('master').length, 3, 'the other masters are found from the seed');
      for (const tag of ['a', 'b', 'c', 'd', 'e']) await conn.set(`ct:{${tag}}`, tag);
      assert.equal(await conn.get('ct:{e}'), 'e');
    } finally {
      conn.disconnect();
    }
    await assert.rejects(connectRedis({ url: cluster.url }), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'ERR_CONFIG');
      assert.match(err.message, /is a node of a Redis Cluster: set redis\.cluster = true/);
      return true;
    });
    await assert.rejects(
      connectRedis({ url: single.url, cluster: true, connectTimeoutMs: 2000 }),
      (err: Error & { code?: string }) => {
        assert.equal(err.code, 'ERR_UNAVAILABLE');
        assert.match(err.message, /each seed must be a node of a Redis Cluster/);
        return true;
      },
    );
  });

  describe('a gateway whose registry master is killed', () => {
    let gw: RunningGateway;
    let conn: RedisConn;
    const call = async (path: string, init: RequestInit = {}): Promise<Response> =>
      gw.app.request(path, {
        ...init,
        headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json', ...init.headers },
      });
    const post = (): Promise<Response> =>
      call('/api/v1/jobs', { method: 'POST', body: JSON.stringify({ argv: ['true'] }) });

    before(async () => {
      const cfg = gatewayConfigSchema.parse({
        listen: { port: 0 },
        redis: redisSection(cluster, 'cdown'),
        storage: { type: 'local', dir: join(dir, 'store') },
        auth: { methods: [{ type: 'token', tokens: [{ token: TOKEN, sub: 'u', tenant: 't' }] }] },
        limits: { placementWaitMs: 200, sweepMs: 60_000 },
      });
      gw = await wireGateway(cfg, () => undefined);
      conn = await connectRedis({ ...redisSection(cluster, 'cdown'), name: 'cluster-test' });
      const info = {
        id: 'cb-1',
        name: 'cb',
        platform: 'linux-x86_64',
        slots: 8,
        version: 'test',
        hostname: 'h',
        draining: false,
        warm: [],
        startedAt: new Date().toISOString(),
      };
      await createRedisBuilderFarm({ redis: conn, pull: conn, sub: conn }, 'cdown').register(
        info,
        new Uint8Array(32),
        600_000,
      );
    });
    after(async () => {
      conn?.disconnect();
      await gw?.close();
    });

    it('503 + Retry-After at once while it is down, jobs made again once it is back', async () => {
      assert.equal((await post()).status, 201);
      const slot = Number(await conn.cluster('KEYSLOT', redisKeys('cdown').registry('linux-x86_64').leases));
      const ranges = await conn.cluster('SLOTS');
      const owner = ranges.find(([lo, hi]) => slot >= lo && slot <= hi)?.[2]?.[1];
      const i = cluster.cluster.indexOf(`127.0.0.1:${owner}`);
      assert.ok(i >= 0, 'the owner is one of our masters');
      const gone = new Promise((r) => cluster.children[i]!.once('exit', r));
      cluster.children[i]!.kill('SIGKILL');
      await gone;

      const down = await post();
      const body: unknown = await down.json();
      assert.equal(down.status, 503, JSON.stringify(body));
      assert.equal(codeOf(body), 'ERR_UNAVAILABLE');
      assert.equal(down.headers.get('retry-after'), '1');
      assert.equal((await call('/readyz')).status, 503);

      await cluster.restartNode(i);
      let status = 0;
      while (status !== 201) {
        const r = await post();
        status = r.status;
        await r.arrayBuffer();
        if (status !== 201) await new Promise((res) => setTimeout(res, 100));
      }
      assert.equal((await call('/readyz')).status, 200);
    });
  });
});
