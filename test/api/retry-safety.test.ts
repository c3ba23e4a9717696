/**
 * What makes client retries safe, against the gateway app in-process over a real redis-server:
 * a repeated Idempotency-Key answers the first job (one record, one stream message), a bad key is
 * a 400, and `blobs/missing` reports an object whose size does not match (truncated in the store).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { gatewayConfigSchema } from '../../gateway/config.ts';
import { wireGateway, type RunningGateway } from '../../wiring/gateway.ts';
import { redisSection, type LocalRedis } from '../../wiring/redis-server.ts';
import type { RedisConn } from '../../redis/connect.ts';
import { createRedisBuilderFarm } from '../../redis/builder-farm.ts';
import { redisKeys } from '../../protocol/keys.ts';
import { blobKey } from '../../protocol/store-keys.ts';
import { codeOf } from '../helpers/http.ts';
import { openConn, startTestRedis } from '../helpers/redis-mode.ts';

const TOKEN = 'retry-safety-token';

describe('retry safety of the API', { timeout: 60_000 }, () => {
  let dir: string;
  let redis: LocalRedis;
  let gw: RunningGateway;
  let conn: RedisConn;
  const call = async (path: string, init: RequestInit = {}): Promise<Response> =>
    gw.app.request(path, {
      ...init,
      headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json', ...init.headers },
    });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kiln-retry-safety-'));
    redis = await startTestRedis();
    const cfg = gatewayConfigSchema.parse({
      listen: { port: 0 },
      redis: redisSection(redis, 'rsafe'),
      storage: { type: 'local', dir: join(dir, 'store') },
      auth: { methods: [{ type: 'token', tokens: [{ token: TOKEN, sub: 'u', tenant: 't' }] }] },
      limits: { placementWaitMs: 200, sweepMs: 60_000 },
    });
    gw = await wireGateway(cfg, () => undefined);
    const info = {
      id: 'b-1',
      name: 'b',
      platform: 'linux-x86_64',
      slots: 4,
      version: 'test',
      hostname: 'h',
      draining: false,
      warm: [],
      startedAt: new Date().toISOString(),
    };
    conn = openConn(redis, { maxRetriesPerRequest: 1 });
    conn.on('error', () => undefined);
    await createRedisBuilderFarm({ redis: conn, pull: conn, sub: conn }, 'rsafe').register(
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

  it('a repeated Idempotency-Key answers the same job, made once', async () => {
    const post = (key: string): Promise<Response> =>
      call('/api/v1/jobs', {
        method: 'POST',
        headers: { 'Idempotency-Key': key },
        body: JSON.stringify({ argv: ['true'] }),
      });
    const [a, b] = await Promise.all([post('k-1'), post('k-1')]);
    const first = [a, b].find((r) => r.status === 201);
    assert.ok(first, 'one of two concurrent posts made the job');
    const id = ((await first.json()) as { job: { id: string } }).job.id;
    const other = first === a ? b : a;
    // The concurrent twin either saw the job already made, or was told to retry in a moment.
    if (other.status === 503) assert.equal(other.headers.get('retry-after'), '1');
    else assert.equal(((await other.json()) as { job: { id: string } }).job.id, id);
    const again = await post('k-1');
    assert.equal(again.status, 201);
    const body = (await again.json()) as { job: { id: string }; token: string };
    assert.equal(body.job.id, id);
    assert.ok(body.token.length > 20, 'a job token comes with the replay');
    assert.equal(await conn.xlen(redisKeys('rsafe').builderStream('b-1')), 1, 'one message');
    const fresh = await post('k-2');
    assert.notEqual(((await fresh.json()) as { job: { id: string } }).job.id, id);
  });

  it('refuses a malformed Idempotency-Key', async () => {
    const r = await call('/api/v1/jobs', {
      method: 'POST',
      headers: { 'Idempotency-Key': 'has spaces' },
      body: JSON.stringify({ argv: ['true'] }),
    });
    assert.equal(r.status, 400);
    assert.equal(codeOf(await r.json()), 'ERR_VALIDATION');
  });

  it('blobs/missing lists an object whose stored size differs (truncated), not a whole one', async () => {
    const whole = Buffer.alloc(4096, 1);
    const digest = createHash('sha256').update(whole).digest('hex');
    const file = join(dir, 'store', blobKey('t', digest));
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, whole.subarray(0, 1000));
    const ask = (): Promise<Response> =>
      call('/api/v1/blobs/missing', {
        method: 'POST',
        body: JSON.stringify({ blobs: [{ digest, size: whole.length }] }),
      });
    assert.deepEqual(((await (await ask()).json()) as { missing: string[] }).missing, [digest]);
    const put = await call(`/api/v1/blobs/${digest}`, {
      method: 'PUT',
      headers: { 'Content-Type': 'application/octet-stream' },
      body: whole,
    });
    assert.equal(put.status, 201);
    assert.deepEqual(((await (await ask()).json()) as { missing: string[] }).missing, []);
  });
});
