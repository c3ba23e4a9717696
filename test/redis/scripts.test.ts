/** The Redis scripts against a real redis-server: placement, slots, leases, compare-and-set. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { startLocalRedis, type LocalRedis } from '../../wiring/redis-server.ts';
import { createRedisFarm, type RedisFarm } from '../../redis/farm.ts';
import { createRedisBuilderFarm } from '../../redis/builder-farm.ts';
import type { BuilderFarm } from '../../protocol/builder-port.ts';
import type { BuilderInfo } from '../../protocol/farm.ts';
import { jobSpecSchema } from '../../protocol/job.ts';

describe('redis scripts', () => {
  let server: LocalRedis;
  let redis: Redis;
  let farm: RedisFarm;
  let bf: BuilderFarm;
  let bconns: Redis[] = [];
  const key = new Uint8Array(32);

  const info = (id: string, over: Partial<BuilderInfo> = {}): BuilderInfo => ({
    id,
    name: id,
    platform: 'linux-x86_64',
    slots: 2,
    version: 'test',
    hostname: 'h',
    draining: false,
    warm: [],
    startedAt: new Date().toISOString(),
    ...over,
  });

  before(async () => {
    server = await startLocalRedis();
    redis = new Redis(server.url);
  });
  after(async () => {
    farm?.close();
    for (const c of bconns) c.disconnect();
    redis.disconnect();
    await server.stop();
  });
  const fresh = (): RedisFarm => {
    farm?.close();
    for (const c of bconns) c.disconnect();
    const prefix = `t${randomBytes(4).toString('hex')}`;
    farm = createRedisFarm(redis, new Redis(server.url), prefix);
    bconns = [new Redis(server.url), new Redis(server.url)];
    bf = createRedisBuilderFarm({ redis, pull: bconns[0]!, sub: bconns[1]! }, prefix);
    return farm;
  };

  it('prefers a builder with the toolchain warm, then the least loaded; filters platform and draining', async () => {
    const f = fresh();
    await bf.register(info('cold'), key, 60_000);
    await bf.register(info('warm', { warm: ['tc1'] }), key, 60_000);
    await bf.register(info('bsd', { platform: 'freebsd-amd64' }), key, 60_000);
    await bf.register(info('drain', { draining: true, warm: ['tc1'] }), key, 60_000);
    assert.equal(await f.placeJob('j1', 'linux-x86_64', 'tc1'), 'warm');
    assert.equal(
      await f.placeJob('j2', 'linux-x86_64', 'tc1'),
      'warm',
      'still warm while it has a free slot',
    );
    assert.equal(await f.placeJob('j3', 'linux-x86_64', 'tc1'), 'cold', 'warm is full');
    assert.equal(await f.placeJob('j4', 'linux-x86_64', ''), 'cold');
    await assert.rejects(f.placeJob('j5', 'linux-x86_64', ''), { code: 'ERR_NO_CAPACITY', message: /busy/ });
    assert.equal(await f.placeJob('j6', 'freebsd-amd64', ''), 'bsd');
    await assert.rejects(f.placeJob('j7', 'linux-aarch64', ''), {
      code: 'ERR_NO_CAPACITY',
      message: /no live builder/,
    });
    await assert.rejects(f.placeJob('j1', 'linux-x86_64', ''), { code: 'ERR_CONFLICT' });
    assert.equal(await f.releaseSlot('j1', 'warm'), true);
    assert.equal(await f.releaseSlot('j1', 'warm'), false, 'a slot is released once');
    assert.equal(await f.placeJob('j8', 'linux-x86_64', 'tc1'), 'warm');
    const loads = Object.fromEntries((await f.listBuilders()).map((b) => [b.info.id, b.load]));
    assert.deepEqual(loads, { cold: 2, warm: 2, bsd: 1, drain: 0 });
  });

  it('skips a builder whose name an admin drained, through its heartbeats and a new registration', async () => {
    const f = fresh();
    await bf.register(info('b1-0000aaaa', { name: 'b1' }), key, 60_000);
    await bf.register(info('b2-0000bbbb', { name: 'b2', slots: 8 }), key, 60_000);
    const mark = { by: 'ops', at: '2026-01-01T00:00:00.000Z' };
    assert.deepEqual(await f.drainBuilder('b2', mark), mark);
    assert.deepEqual(
      await f.drainBuilder('b2', { by: 'other', at: 'later' }),
      mark,
      'draining again keeps the first mark',
    );
    // The builder renews its lease and rewrites its info (draining: false): still drained.
    await bf.renew(info('b2-0000bbbb', { name: 'b2', slots: 8 }), 60_000);
    for (let i = 0; i < 2; i++) assert.equal(await f.placeJob(`d${i}`, 'linux-x86_64', ''), 'b1-0000aaaa');
    await assert.rejects(f.placeJob('d2', 'linux-x86_64', ''), { code: 'ERR_NO_CAPACITY', message: /busy/ });
    // Restarted agent: a new id under the same name, still drained.
    await bf.register(info('b2-0000cccc', { name: 'b2', slots: 8 }), key, 60_000);
    await assert.rejects(f.placeJob('d3', 'linux-x86_64', ''), { code: 'ERR_NO_CAPACITY' });
    const views = await f.listBuilders();
    assert.deepEqual(views.map((v) => [v.info.id, v.drain?.by ?? null]).sort(), [
      ['b1-0000aaaa', null],
      ['b2-0000bbbb', 'ops'],
      ['b2-0000cccc', 'ops'],
    ]);
    assert.deepEqual([...(await f.listDrains()).keys()], ['b2']);
    assert.equal(await f.undrainBuilder('b2'), true);
    assert.equal(await f.undrainBuilder('b2'), false, 'undrained once');
    assert.match(String(await f.placeJob('d4', 'linux-x86_64', '')), /^b2-/);
  });

  it('expired leases hand back their jobs; a lost lease cannot be renewed', async () => {
    const f = fresh();
    await bf.register(info('a'), key, 50);
    await bf.register(info('b'), key, 60_000);
    await f.placeJob('x1', 'linux-x86_64', '');
    await f.placeJob('x2', 'linux-x86_64', '');
    await new Promise((r) => setTimeout(r, 80));
    const gone = await f.expireBuilders(Date.now());
    assert.equal(gone.length, 1);
    assert.equal(gone[0]!.bid, 'a');
    assert.equal(gone[0]!.jobs.length, 1);
    await assert.rejects(bf.renew(info('a'), 1000), { code: 'ERR_CONFLICT' });
    assert.deepEqual(await f.expireBuilders(Date.now()), []);
    assert.ok(await f.builderKey('a'), 'the key outlives the lease so old tokens still verify');
  });

  it('start and complete are compare-and-set on attempt and builder; requeue moves or fails', async () => {
    const f = fresh();
    const spec = jobSpecSchema.parse({ argv: ['true'] });
    await f.createJob({ id: 'j', spec, bid: 'b1', sub: 's', tenant: 't', createdAt: 'now' }, 600);
    await assert.rejects(
      bf.claim('j', 1, 'b2'),
      { code: 'ERR_CONFLICT', message: /stale/ },
      'another builder cannot start it',
    );
    await bf.claim('j', 1, 'b1');
    await assert.rejects(bf.claim('j', 1, 'b1'), { code: 'ERR_CONFLICT', message: /stale/ }, 'started once');
    assert.equal(await f.requeueJob('j', 1, 3, 'b2', { code: 'ERR_JOB_LOST', message: 'lost' }), 2);
    const done = {
      state: 'succeeded' as const,
      exitCode: 0,
      signal: null,
      error: null,
      outputs: null,
      missingOutputs: [],
      rejectedOutputs: [],
      logTruncated: false,
      finishedAt: 'later',
    };
    assert.equal(await bf.complete('j', 1, 'b1', done), false, 'a late duplicate of attempt 1 is dropped');
    assert.equal(await bf.complete('j', 2, 'b2', done), true);
    assert.equal((await f.getJob('j'))!.state, 'succeeded');
    assert.equal(await bf.complete('j', 2, 'b2', done), false, 'completed once');
    await f.createJob({ id: 'k', spec, bid: 'b1', sub: 's', tenant: 't', createdAt: 'now' }, 600);
    assert.equal(
      await f.requeueJob('k', 1, 1, 'b2', { code: 'ERR_JOB_LOST', message: 'lost' }),
      0,
      'no attempt left',
    );
    const k = (await f.getJob('k'))!;
    assert.equal(k.state, 'failed');
    assert.equal(k.error?.code, 'ERR_JOB_LOST');
    assert.equal(await f.cancelJob('k'), 'failed');
    await f.createJob({ id: 'q', spec, bid: 'b1', sub: 's', tenant: 't', createdAt: 'now' }, 600);
    assert.equal(await f.cancelJob('q'), 'killed');
    await assert.rejects(
      bf.claim('q', 1, 'b1'),
      { code: 'ERR_CONFLICT', message: /finished/ },
      'a job stopped while queued never starts',
    );
    assert.equal(await f.cancelJob('nope'), null);
  });
});
