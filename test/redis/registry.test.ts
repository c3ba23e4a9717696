/**
 * The sharded registry against a real redis-server (a 3-master cluster with
 * KILN_TEST_REDIS=cluster), at 1,000 builders: placement keeps every rule it had when it walked
 * all builders (platform, draining skipped, warm first, least loaded, no capacity), the free/warm structures stay exactly what a full recomputation gives after random
 * register/renew/drain/place/release/expire steps, and removed builders' jobs wait in the durable
 * "to place again" set until a sweep handles them.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { LocalRedis } from '../../wiring/redis-server.ts';
import type { RedisConn } from '../../redis/connect.ts';
import { openConn, startTestRedis } from '../helpers/redis-mode.ts';
import { createRedisFarm, type RedisFarm } from '../../redis/farm.ts';
import { createRedisBuilderFarm } from '../../redis/builder-farm.ts';
import type { BuilderFarm } from '../../protocol/builder-port.ts';
import type { BuilderInfo } from '../../protocol/farm.ts';
import { redisKeys, type RegistryKeys } from '../../protocol/keys.ts';
import { jobSpecSchema, withDefaultLimits } from '../../protocol/job.ts';
import { sweepOnce } from '../../gateway/sweeper.ts';
import { placeWithWait } from '../../gateway/place.ts';
import { KilnError } from '../../protocol/errors.ts';

const P = 'linux-x86_64';
const key = new Uint8Array(32);

describe('sharded builder registry', () => {
  let server: LocalRedis;
  let redis: RedisConn;
  const closers: (() => void)[] = [];

  before(async () => {
    server = await startTestRedis();
    redis = openConn(server);
  });
  after(async () => {
    for (const c of closers) c();
    redis.disconnect();
    await server.stop();
  });

  function fresh(): { farm: RedisFarm; bf: BuilderFarm; r: RegistryKeys; prefix: string } {
    const prefix = `r${randomBytes(4).toString('hex')}`;
    const [sub, pull, bsub] = [openConn(server), openConn(server), openConn(server)];
    const farm = createRedisFarm(redis, sub, prefix);
    const bf = createRedisBuilderFarm({ redis, pull, sub: bsub }, prefix);
    closers.push(() => {
      farm.close();
      for (const c of [sub, pull, bsub]) c.disconnect();
    });
    return { farm, bf, r: redisKeys(prefix).registry(P), prefix };
  }

  const mark = { by: 'admin', at: new Date().toISOString() };
  const info = (id: string, over: Partial<BuilderInfo> = {}): BuilderInfo => ({
    id,
    name: id,
    platform: P,
    slots: 4,
    version: 'test',
    hostname: 'h',
    draining: false,
    warm: [],
    startedAt: new Date().toISOString(),
    ...over,
  });

  it('at 1,000 builders: warm first, then least loaded; drained and expired builders are never chosen', async () => {
    const { farm, bf } = fresh();
    for (let i = 0; i < 1000; i += 100) {
      await Promise.all(
        Array.from({ length: 100 }, (_, k) =>
          bf.register(info(`b${i + k}`, { warm: (i + k) % 250 === 7 ? ['tc'] : [] }), key, 60_000),
        ),
      );
    }
    // Four builders have tc warm: b7, b257, b507, b757; each has 4 slots.
    const warm = new Map<string, number>();
    for (let j = 0; j < 16; j++) {
      const bid = await farm.placeJob(`w${j}`, P, 'tc');
      warm.set(bid, (warm.get(bid) ?? 0) + 1);
    }
    assert.deepEqual([...warm.keys()].sort(), ['b257', 'b507', 'b7', 'b757']);
    assert.ok(
      [...warm.values()].every((n) => n === 4),
      'spread over the warm ones by load',
    );
    const next = await farm.placeJob('w16', P, 'tc');
    assert.ok(!warm.has(next), 'warm ones full: a cold builder');
    assert.equal((await farm.listBuilders()).find((b) => b.info.id === next)!.load, 1);

    // Least loaded: 1,000 more placements land on 1,000 distinct builders except the full ones.
    const seen = new Set<string>();
    for (let j = 0; j < 995; j++) seen.add(await farm.placeJob(`c${j}`, P, ''));
    assert.equal(seen.size, 995, 'each placement took a builder with no job yet');

    assert.deepEqual(await farm.drainBuilder('b1', mark), mark);
    assert.deepEqual(
      await farm.drainBuilder('b1', { by: 'other', at: 'later' }),
      mark,
      'an earlier mark is kept',
    );
    await bf.endLease('b2');
    for (let j = 0; j < 2000; j++) {
      const bid = await farm.placeJob(`d${j}`, P, '');
      assert.notEqual(bid, 'b1', 'a drained builder gets no job');
      assert.notEqual(bid, 'b2', 'a builder whose lease ended gets no job');
    }
    const views = await farm.listBuilders();
    assert.deepEqual(views.find((b) => b.info.id === 'b1')!.drain, mark, 'visible as drained');
    assert.equal(await farm.undrainBuilder('b1'), true);
    assert.equal(await farm.undrainBuilder('b1'), false, 'cleared once');
    assert.equal(await farm.placeJob('u1', P, ''), 'b1', 'undrained: the least loaded again');

    // Every slot taken: a bounded wait, then no capacity with a Retry-After.
    for (let j = 0; ; j++) {
      const got = await farm.placeJob(`f${j}`, P, '').catch((e: KilnError) => e);
      if (got instanceof KilnError) {
        assert.equal(got.code, 'ERR_NO_CAPACITY');
        assert.match(got.message, /busy/);
        break;
      }
    }
    const t0 = Date.now();
    const err = await placeWithWait(farm, 'late', P, 'tc', 300).catch((e: KilnError) => e);
    assert.ok(err instanceof KilnError && err.code === 'ERR_NO_CAPACITY', String(err));
    assert.ok(Number(err.retryAfter) > 0, 'a Retry-After for the 503');
    assert.ok(Date.now() - t0 >= 100, 'it retried for capacity before giving up');
  });

  it('free and warm sets equal a full recomputation after random steps', async () => {
    const { farm, bf, r } = fresh();
    const rnd = (n: number): number => Math.floor(Math.random() * n);
    const tcs = ['t0', 't1', 't2', 't3'];
    const held: { job: string; bid: string }[] = [];
    const ids = Array.from({ length: 60 }, (_, i) => `x${i}`);
    for (const id of ids)
      await bf.register(info(id, { slots: 1 + rnd(4), warm: [tcs[rnd(4)]!] }), key, 60_000);
    for (let step = 0; step < 1500; step++) {
      const op = rnd(10);
      if (op < 4) {
        const bid = await farm.placeJob(`j${step}`, P, tcs[rnd(4)]!).catch(() => null);
        if (bid) held.push({ job: `j${step}`, bid });
      } else if (op < 7 && held.length > 0) {
        const [h] = held.splice(rnd(held.length), 1);
        assert.equal(await farm.releaseSlot(h!.job, h!.bid), true);
      } else if (op === 7) {
        const id = ids[rnd(ids.length)]!;
        const warm = tcs.filter(() => Math.random() < 0.5);
        await bf
          .renew(info(id, { slots: 1 + rnd(4), warm, draining: Math.random() < 0.1 }), 60_000)
          .catch(() => undefined);
      } else if (op === 8) {
        const name = ids[rnd(ids.length)]!;
        if (Math.random() < 0.5) await farm.drainBuilder(name, mark);
        else await farm.undrainBuilder(name);
      }
    }
    const [leases, load, slots, warmof, drain, selfdrain, free] = await Promise.all([
      redis.zrange(r.leases, '0', '-1', 'WITHSCORES'),
      redis.hgetall(r.load),
      redis.hgetall(r.slots),
      redis.hgetall(r.warmof),
      redis.hgetall(r.drained),
      redis.hgetall(r.selfdrain),
      redis.zrange(r.free, '0', '-1', 'WITHSCORES'),
    ]);
    const expected = new Map<string, number>();
    for (let i = 0; i < leases.length; i += 2) {
      const bid = leases[i]!;
      const used = Number(load[bid] ?? 0);
      const s = Number(slots[bid] ?? 0);
      if (used < s && !(bid in drain) && !(bid in selfdrain)) expected.set(bid, used / s);
    }
    const got = new Map<string, number>();
    for (let i = 0; i < free.length; i += 2) got.set(free[i]!, Number(free[i + 1]));
    assert.deepEqual(got, expected, 'free = live, not draining, with a free slot, scored used/slots');
    const heldBy = new Map<string, number>();
    for (const h of held) heldBy.set(h.bid, (heldBy.get(h.bid) ?? 0) + 1);
    for (const id of ids) assert.equal(Number(load[id] ?? 0), heldBy.get(id) ?? 0, `load of ${id}`);
    for (const t of tcs) {
      const members = (await redis.zrange(r.warmPrefix + t, '0', '-1')).sort();
      const want = [...expected.keys()].filter((bid) => (warmof[bid] ?? '').split(' ').includes(t)).sort();
      assert.deepEqual(members, want, `warm set of ${t}`);
    }
  });

  it('a removed builder’s jobs wait in the to-place-again set until a sweep places them', async () => {
    const { farm, bf } = fresh();
    const spec = withDefaultLimits(jobSpecSchema.parse({ argv: ['true'] }));
    await bf.register(info('dying'), key, 60_000);
    const bid = await farm.placeJob('lost1', P, '');
    assert.equal(bid, 'dying');
    await farm.createJob(
      { id: 'lost1', spec, bid, sub: 's', tenant: 't', createdAt: new Date().toISOString() },
      600,
    );
    await bf.endLease('dying');
    // A gateway that dies right after removing the builder: the job is not lost.
    assert.deepEqual(
      (await farm.expireBuilders(Date.now())).map((b) => b.jobs),
      [['lost1']],
    );
    assert.deepEqual(await farm.toPlaceAgain(), [{ platform: P, jobId: 'lost1' }]);
    // No builder now: the job waits (its time is not up) instead of failing at attempt 1.
    await sweepOnce(farm, { maxAttempts: 3, log: () => undefined });
    assert.equal((await farm.getJob('lost1'))!.state, 'queued');
    assert.equal((await farm.getJob('lost1'))!.attempt, 1);
    assert.equal((await farm.toPlaceAgain()).length, 1);
    await bf.register(info('fresh'), key, 60_000);
    await sweepOnce(farm, { maxAttempts: 3, log: () => undefined });
    const rec = (await farm.getJob('lost1'))!;
    assert.equal(rec.bid, 'fresh');
    assert.equal(rec.attempt, 2);
    assert.deepEqual(await farm.toPlaceAgain(), []);
    const pulled = await bf.pull('fresh', 10, 100);
    assert.deepEqual(
      pulled.map((m) => [m.jobId, m.attempt]),
      [['lost1', 2]],
    );
  });
});
