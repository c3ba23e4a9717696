/**
 * Redis down: every route that needs it answers 503 + Retry-After (never a 500 or a hang), /readyz
 * fails at once, and the gateway serves again when Redis is back, without a restart.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gatewayConfigSchema } from '../../gateway/config.ts';
import { wireGateway, type RunningGateway } from '../../wiring/gateway.ts';
import { startLocalRedis, type LocalRedis } from '../../wiring/redis-server.ts';
import { Redis } from 'ioredis';
import { createRedisBuilderFarm } from '../../redis/builder-farm.ts';
import { codeOf } from '../helpers/http.ts';

const TOKEN = 'redis-down-token';

describe('gateway with Redis down', { timeout: 60_000 }, () => {
  let dir: string;
  let redis: LocalRedis;
  let gw: RunningGateway;
  let conn: Redis;
  const call = async (path: string, init: RequestInit = {}): Promise<Response> =>
    gw.app.request(path, {
      ...init,
      headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json', ...init.headers },
    });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kiln-redis-down-'));
    await mkdir(join(dir, 'redis'));
    redis = await startLocalRedis({ dir: join(dir, 'redis'), appendonly: true });
    const cfg = gatewayConfigSchema.parse({
      listen: { port: 0 },
      redis: { url: redis.url, prefix: 'rdown' },
      storage: { type: 'local', dir: join(dir, 'store') },
      auth: { methods: [{ type: 'token', tokens: [{ token: TOKEN, sub: 'u', tenant: 't' }] }] },
      limits: { placementWaitMs: 200, sweepMs: 60_000 },
    });
    gw = await wireGateway(cfg, () => undefined);
    const info = {
      id: 'b-1',
      name: 'b',
      platform: 'linux-x86_64',
      slots: 1,
      version: 'test',
      hostname: 'h',
      draining: false,
      warm: [],
      startedAt: new Date().toISOString(),
    };
    conn = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    conn.on('error', () => undefined);
    await createRedisBuilderFarm({ redis: conn, pull: conn, sub: conn }, 'rdown').register(
      info,
      new Uint8Array(32),
      600_000,
    );
  });
  after(async () => {
    conn?.disconnect();
    await gw?.close();
    await redis?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('503 + Retry-After everywhere, /readyz fails, then recovers when Redis is back', async () => {
    assert.equal((await call('/readyz')).status, 200);
    const made = await call('/api/v1/jobs', { method: 'POST', body: JSON.stringify({ argv: ['true'] }) });
    assert.equal(made.status, 201);
    const id = ((await made.json()) as { job: { id: string } }).job.id;

    const gone = new Promise((r) => redis.child.once('exit', r));
    redis.child.kill('SIGKILL');
    await gone;

    const probes: [string, RequestInit][] = [
      ['/api/v1/jobs', { method: 'POST', body: JSON.stringify({ argv: ['true'] }) }],
      [`/api/v1/jobs/${id}`, {}],
      [`/api/v1/jobs/${id}?wait=5`, {}],
      [`/api/v1/jobs/${id}/logs?follow=1`, {}],
      [`/api/v1/jobs/${id}/cancel`, { method: 'POST' }],
      ['/api/v1/status', {}],
      ['/api/v1/presets', {}],
    ];
    for (const [path, init] of probes) {
      const r = await call(path, init);
      const body: unknown = await r.json();
      assert.equal(r.status, 503, `${path}: ${JSON.stringify(body)}`);
      assert.equal(codeOf(body), 'ERR_UNAVAILABLE', path);
      assert.equal(r.headers.get('retry-after'), '1', path);
    }
    const ready = await call('/readyz');
    assert.equal(ready.status, 503);
    assert.equal(ready.headers.get('retry-after'), '1');

    // Back on the same port, with its AOF: the gateway reconnects by itself.
    redis = await startLocalRedis({ port: redis.port, dir: join(dir, 'redis'), appendonly: true });
    let status = 0;
    while (status !== 200) {
      status = (await call(`/api/v1/jobs/${id}`)).status;
      if (status !== 200) await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal((await call('/readyz')).status, 200);
  });
});
