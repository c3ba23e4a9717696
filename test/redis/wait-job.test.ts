/**
 * The long-poll (gateway/wait-job.ts) on a real Redis farm: a completion wakes the wait with the
 * finished job in its event, so the answer needs no read of the record; an event without the
 * job (a cancel, the sweeper) is followed by a read.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { waitForJob } from '../../gateway/wait-job.ts';
import { queuedRecord } from '../../protocol/farm.ts';
import type { FarmState } from '../../protocol/gateway-port.ts';
import { useTestRedis } from '../helpers/redis.ts';
import { builderInfo, KEY, LONG_LEASE_MS, newJob, succeeded, type FarmUnderTest } from './farm-under-test.ts';

const redis = useTestRedis();

/** The farm, counting its job reads. */
function counting(farm: FarmState): { farm: FarmState; reads: () => number } {
  let reads = 0;
  const counted = new Proxy(farm, {
    get(target, prop, receiver) {
      if (prop === 'getJob') return (id: string) => (reads++, target.getJob(id));
      return Reflect.get(target, prop, receiver) as unknown;
    },
  });
  return { farm: counted, reads: () => reads };
}

describe('waiting for a job', () => {
  let sut: FarmUnderTest;
  beforeEach(async () => {
    sut = await redis.farm();
    await sut.builder.register(builderInfo('b1'), KEY, LONG_LEASE_MS);
  });
  afterEach(() => sut.cleanup());

  it("a creation's wait is answered from the completion's event: no read of the record", async () => {
    const job = newJob('j', 'b1');
    const { farm, reads } = counting(sut.gateway);
    const listener = await farm.listenJob('j');
    await farm.createJob(job, 600);
    const waiting = waitForJob(farm, queuedRecord(job), 30, undefined, listener);
    await sut.builder.claim('j', 1, 'b1');
    await sut.builder.complete('j', 1, 'b1', succeeded({ exitCode: 0 }));
    const done = await waiting;
    assert.equal(done.state, 'succeeded');
    assert.deepEqual(done, await sut.gateway.getJob('j'));
    assert.equal(reads(), 0, 'the record was not read');
  });

  it('a status wait reads the record once, then takes the completion from its event', async () => {
    const job = newJob('j', 'b1');
    await sut.gateway.createJob(job, 600);
    const { farm, reads } = counting(sut.gateway);
    const running = await sut.builder.claim('j', 1, 'b1');
    const waiting = waitForJob(farm, running, 30);
    // The wait has read the record (it subscribed first): then the result may land.
    while (reads() === 0) await new Promise((r) => setImmediate(r));
    await sut.builder.complete('j', 1, 'b1', succeeded({ state: 'failed', exitCode: 2 }));
    const done = await waiting;
    assert.equal(done.exitCode, 2);
    assert.equal(reads(), 1, 'only the first read');
  });

  it('an event without the job (a cancel) is followed by a read', async () => {
    const job = newJob('j', 'b1');
    const { farm, reads } = counting(sut.gateway);
    const listener = await farm.listenJob('j');
    await farm.createJob(job, 600);
    const waiting = waitForJob(farm, queuedRecord(job), 30, undefined, listener);
    assert.equal(await farm.cancelJob('j'), 'killed');
    await farm.publishDone('j');
    const done = await waiting;
    assert.equal(done.state, 'killed');
    assert.equal(reads(), 1);
  });
});
