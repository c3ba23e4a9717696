/** The Redis scripts against a real redis-server: placement, slots, leases, compare-and-set. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { startLocalRedis, type LocalRedis } from '../../wiring/redis-server.ts';
import { createRedisFarm, type RedisFarm } from '../../redis/farm.ts';
import { registerBuilder, startJob, completeJob, renewLease } from '../../redis/builder-ops.ts';
import type { BuilderInfo } from '../../protocol/keys.ts';
import { jobSpecSchema } from '../../protocol/job.ts';

describe('redis scripts', () => {
  let server: LocalRedis;
  let redis: Redis;
  let farm: RedisFarm;
  const key = new Uint8Array(32);

  const info = (id: string, over: Partial<BuilderInfo> = {}): BuilderInfo => ({
    id,
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
    redis.disconnect();
    await server.stop();
  });
  const fresh = (): RedisFarm => {
    farm?.close();
    farm = createRedisFarm(redis, new Redis(server.url), `t${randomBytes(4).toString('hex')}`);
    return farm;
  };

  it('prefers a builder with the toolchain warm, then the least loaded; filters platform and draining', async () => {
    const f = fresh();
    await registerBuilder(f, info('cold'), key, 60_000);
    await registerBuilder(f, info('warm', { warm: ['tc1'] }), key, 60_000);
    await registerBuilder(f, info('bsd', { platform: 'freebsd-amd64' }), key, 60_000);
    await registerBuilder(f, info('drain', { draining: true, warm: ['tc1'] }), key, 60_000);
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

  it('expired leases hand back their jobs; a lost lease cannot be renewed', async () => {
    const f = fresh();
    await registerBuilder(f, info('a'), key, 50);
    await registerBuilder(f, info('b'), key, 60_000);
    await f.placeJob('x1', 'linux-x86_64', '');
    await f.placeJob('x2', 'linux-x86_64', '');
    await new Promise((r) => setTimeout(r, 80));
    const gone = await f.expireBuilders(Date.now());
    assert.equal(gone.length, 1);
    assert.equal(gone[0]!.bid, 'a');
    assert.equal(gone[0]!.jobs.length, 1);
    await assert.rejects(renewLease(f, info('a'), 1000), { code: 'ERR_CONFLICT' });
    assert.deepEqual(await f.expireBuilders(Date.now()), []);
    assert.ok(await f.builderKey('a'), 'the key outlives the lease so old tokens still verify');
  });

  it('start and complete are compare-and-set on attempt and builder; requeue moves or fails', async () => {
    const f = fresh();
    const spec = jobSpecSchema.parse({ argv: ['true'] });
    await f.createJob({ id: 'j', spec, bid: 'b1', sub: 's', tenant: 't', createdAt: 'now' }, 600);
    assert.equal(await startJob(f, 'j', 1, 'b2'), -2, 'another builder cannot start it');
    assert.equal(await startJob(f, 'j', 1, 'b1'), 1);
    assert.equal(await startJob(f, 'j', 1, 'b1'), -2, 'started once');
    assert.equal(await f.requeueJob('j', 1, 3, 'b2', { code: 'ERR_JOB_LOST', message: 'lost' }), 2);
    const done = {
      state: 'succeeded' as const,
      exitCode: 0,
      signal: null,
      error: null,
      outputs: null,
      missingOutputs: [],
      logTruncated: false,
      finishedAt: 'later',
    };
    assert.equal(await completeJob(f, 'j', 1, 'b1', done), false, 'a late duplicate of attempt 1 is dropped');
    assert.equal(await completeJob(f, 'j', 2, 'b2', done), true);
    assert.equal((await f.getJob('j'))!.state, 'succeeded');
    assert.equal(await completeJob(f, 'j', 2, 'b2', done), false, 'completed once');
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
    assert.equal(await startJob(f, 'q', 1, 'b1'), -1, 'a job stopped while queued never starts');
    assert.equal(await f.cancelJob('nope'), null);
  });
});
