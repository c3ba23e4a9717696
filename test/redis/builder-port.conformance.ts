/**
 * The builder-port conformance suite: every BuilderFarm implementation passes it (with the gateway
 * port of the same farm to set the scene and to look). Call `builderPortConformance(name, make)`
 * from a `*.test.ts` file; `make` builds a fresh, empty farm for each test. No test waits for
 * time: expiry takes the clock as an argument, deliveries are awaited as events.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { BuilderFarm } from '../../protocol/builder-port.ts';
import type { FarmState } from '../../protocol/gateway-port.ts';
import {
  builderInfo as info,
  KEY,
  LONG_LEASE_MS,
  newJob,
  succeeded,
  type FarmUnderTest,
  type MakeFarm,
} from './farm-under-test.ts';

const X86 = 'linux-x86_64';

/** The part of an expiry answer the port promises. */
const gone = (r: { bid: string; jobs: string[] }[]) => r.map(({ bid, jobs }) => ({ bid, jobs }));

/** Registers the suite's tests under `describe(name)`. */
export function builderPortConformance(name: string, make: MakeFarm): void {
  describe(`builder port conformance: ${name}`, () => {
    let sut: FarmUnderTest;
    let g: FarmState;
    let b: BuilderFarm;
    beforeEach(async () => {
      sut = await make();
      g = sut.gateway;
      b = sut.builder;
    });
    afterEach(() => sut.cleanup());

    it('registers with a key and a lease; renewing refreshes what it advertises', async () => {
      await b.register(info('a', { slots: 3 }), KEY, LONG_LEASE_MS);
      await b.register(info('a', { slots: 3 }), KEY, LONG_LEASE_MS);
      assert.deepEqual(await g.builderKey('a'), KEY);
      await b.renew(info('a', { slots: 3, warm: ['tc1'] }), LONG_LEASE_MS);
      const views = await g.listBuilders();
      assert.deepEqual(
        views.map((v) => [v.info.id, v.info.slots, v.info.warm]),
        [['a', 3, ['tc1']]],
      );
      assert.equal(await g.placeJob('j', X86, 'tc1'), 'a');
    });

    it('a lost lease cannot be renewed; ending the lease hands the builder to the sweeper', async () => {
      await b.register(info('a'), KEY, LONG_LEASE_MS);
      await b.register(info('b'), KEY, LONG_LEASE_MS);
      await g.expireBuilders(Date.now() + LONG_LEASE_MS + 1);
      await assert.rejects(b.renew(info('a'), LONG_LEASE_MS), { code: 'ERR_CONFLICT', message: /lease/ });
      await b.register(info('c'), KEY, LONG_LEASE_MS);
      await b.endLease('c');
      assert.deepEqual(gone(await g.expireBuilders(Date.now())), [{ bid: 'c', jobs: [] }]);
      await b.endLease('never-registered');
      assert.deepEqual(await g.listBuilders(), [], 'ending an unknown lease registers nothing');
    });

    it('pulls its own messages in order, at most `count`; each stays unacknowledged until acked', async () => {
      await b.register(info('a'), KEY, LONG_LEASE_MS);
      for (const jobId of ['j1', 'j2', 'j3'])
        await g.enqueue('a', { jobId, attempt: 1, token: `t-${jobId}` });
      const firstTwo = await b.pull('a', 2, 10);
      assert.deepEqual(
        firstTwo.map((m) => [m.jobId, m.attempt, m.token]),
        [
          ['j1', 1, 't-j1'],
          ['j2', 1, 't-j2'],
        ],
      );
      const [third] = await b.pull('a', 2, 10);
      assert.equal(third?.jobId, 'j3');
      assert.equal(await sut.unacked('a'), 3);
      await b.ack('a', firstTwo[0]!.ackId);
      assert.equal(await sut.unacked('a'), 2);
      await b.ack('a', firstTwo[1]!.ackId);
      await b.ack('a', third!.ackId);
      assert.equal(await sut.unacked('a'), 0);
      assert.deepEqual(await b.pull('a', 2, 10), [], 'nothing is delivered twice');
    });

    it('reclaims a delivered, unacknowledged message once it has been idle long enough', async () => {
      await b.register(info('a'), KEY, LONG_LEASE_MS);
      await g.enqueue('a', { jobId: 'r1', attempt: 1, token: 't' });
      const [first] = await b.pull('a', 1, 10);
      assert.deepEqual(await b.reclaim('a', 60_000, 10), [], 'not idle long enough yet');
      const back = await b.reclaim('a', 0, 10);
      assert.deepEqual(
        back.map((m) => [m.jobId, m.ackId]),
        [['r1', first!.ackId]],
      );
      await b.ack('a', first!.ackId);
      assert.deepEqual(await b.reclaim('a', 0, 10), [], 'an acknowledged message is never reclaimed');
    });

    it('hands a job back: it waits in the to-place-again set', async () => {
      await b.register(info('a'), KEY, LONG_LEASE_MS);
      await g.createJob(newJob('h', 'a'), 600);
      await b.handBack('linux-x86_64', 'h');
      assert.deepEqual(await g.toPlaceAgain(), [{ platform: 'linux-x86_64', jobId: 'h' }]);
    });

    it('a pull that waits returns the message that arrives', async () => {
      await b.register(info('a'), KEY, LONG_LEASE_MS);
      const pulled = b.pull('a', 1, 30_000);
      await g.enqueue('a', { jobId: 'late', attempt: 1, token: 't' });
      assert.deepEqual(
        (await pulled).map((m) => m.jobId),
        ['late'],
      );
    });

    it('reads the whole job to run, inline files included', async () => {
      const inline = [
        { path: 'main.i', data: Buffer.from('int main;'), executable: false },
        { path: 'empty', data: Buffer.alloc(0), executable: true },
        { path: 'bin', data: Buffer.from([0, 255, 0xc3, 0x28, 10]), executable: false },
      ];
      await g.createJob({ ...newJob('j', 'a', { inline }), action: 'act', cacheScope: 's' }, 600);
      const rec = await b.readJob('j');
      assert.deepEqual(rec?.spec.inline, inline);
      assert.deepEqual([rec?.tenant, rec?.cacheScope, rec?.action], ['t1', 's', 'act']);
      assert.equal(await b.readJob('nope'), null);
      const claimed = await b.claim('j', 1, 'a');
      assert.deepEqual(claimed.spec.inline, inline, 'the claim answers the inline files too');
      assert.deepEqual([claimed.tenant, claimed.cacheScope, claimed.action], ['t1', 's', 'act']);
    });

    it('claims the current attempt on its own builder only (again only there: a reclaimed message)', async () => {
      await g.createJob(newJob('j', 'b1'), 600);
      await assert.rejects(b.claim('j', 1, 'b2'), { code: 'ERR_CONFLICT', message: /stale/ });
      await assert.rejects(b.claim('j', 2, 'b1'), { code: 'ERR_CONFLICT', message: /stale/ });
      const claimed = await b.claim('j', 1, 'b1');
      const rec = await g.getJob('j');
      assert.equal(rec?.state, 'running');
      assert.ok(rec?.startedAt);
      assert.deepEqual(claimed, rec, 'the claim answers the job as it now is');
      const again = await b.claim('j', 1, 'b1'); // the same builder and attempt, after losing the handler
      assert.equal(again.startedAt, rec?.startedAt);
      assert.equal((await g.getJob('j'))?.startedAt, rec?.startedAt, 'still the first start');
      await assert.rejects(b.claim('j', 1, 'b2'), { code: 'ERR_CONFLICT', message: /stale/ });
      await assert.rejects(b.claim('nope', 1, 'b1'), { code: 'ERR_JOB_NOT_FOUND' });
    });

    it('records the result of the current attempt once and wakes waiters; a stale one is dropped', async () => {
      await g.createJob(newJob('j', 'b1'), 600);
      await b.claim('j', 1, 'b1');
      const l = await g.listenJob('j');
      try {
        assert.equal(await b.complete('j', 1, 'b2', succeeded()), false, 'another builder');
        assert.equal(await b.complete('j', 2, 'b1', succeeded()), false, 'another attempt');
        const result = succeeded({
          state: 'failed',
          exitCode: 2,
          outputs: { digest: 'a'.repeat(64), size: 10 },
          missingOutputs: ['gone'],
          rejectedOutputs: [{ path: 'fifo', reason: 'not a regular file' }],
          logTruncated: true,
          result: { stdout: 'b3V0', stderr: '', files: [] },
        });
        assert.equal(await b.complete('j', 1, 'b1', result), true);
        assert.equal(await l.next(10_000), true, 'the result wakes waiters');
      } finally {
        l.close();
      }
      const rec = await g.getJob('j');
      assert.deepEqual(
        [rec?.state, rec?.exitCode, rec?.outputs?.size, rec?.missingOutputs, rec?.logTruncated],
        ['failed', 2, 10, ['gone'], true],
      );
      assert.deepEqual(rec?.rejectedOutputs, [{ path: 'fifo', reason: 'not a regular file' }]);
      assert.equal(rec?.result?.stdout, 'b3V0');
      assert.equal(await b.complete('j', 1, 'b1', succeeded()), false, 'recorded once');
      assert.equal((await g.getJob('j'))?.state, 'failed', 'the duplicate changed nothing');
      assert.equal(await b.complete('nope', 1, 'b1', succeeded()), false);
    });

    it('appends output to the log, and the end of its attempt with its result (once)', async () => {
      await g.createJob(newJob('j', 'b1'), 600);
      await b.claim('j', 1, 'b1');
      await b.appendLog('j', 1, 'out', new TextEncoder().encode('hello\n'), 0);
      await b.appendLog('j', 1, 'err', new Uint8Array([0, 255]), 1);
      assert.equal(await b.complete('j', 1, 'b1', succeeded()), true);
      assert.equal(await b.complete('j', 1, 'b1', succeeded()), false, 'a duplicate adds no second end');
      const log = await g.readLog('j', '0', 10);
      assert.deepEqual(
        log.map((e) => [e.kind, e.attempt]),
        [
          ['out', 1],
          ['err', 1],
          ['end', 1],
        ],
      );
      const err = log[1]!;
      assert.ok(err.kind === 'err');
      assert.deepEqual(new Uint8Array(err.data), new Uint8Array([0, 255]));
    });

    it('gives its slot back once', async () => {
      await b.register(info('a', { slots: 1 }), KEY, LONG_LEASE_MS);
      await g.placeJob('j', X86, '');
      await assert.rejects(g.placeJob('k', X86, ''), { code: 'ERR_NO_CAPACITY' });
      assert.equal(await b.releaseSlot('j', 'a'), true);
      assert.equal(await b.releaseSlot('j', 'a'), false);
      assert.equal(await g.placeJob('k', X86, ''), 'a', 'the slot is free again');
    });

    it('finishes a job: its slot back and its message acknowledged, in one call', async () => {
      await b.register(info('a', { slots: 1 }), KEY, LONG_LEASE_MS);
      await g.placeJob('j', X86, '');
      await g.enqueue('a', { jobId: 'j', attempt: 1, token: 't' });
      const [msg] = await b.pull('a', 1, 10);
      await assert.rejects(g.placeJob('k', X86, ''), { code: 'ERR_NO_CAPACITY' });
      assert.equal(await sut.unacked('a'), 1);
      assert.equal(await b.finish('j', 'a', msg!.ackId), true);
      assert.equal(await sut.unacked('a'), 0);
      assert.equal(await g.placeJob('k', X86, ''), 'a', 'the slot is free again');
      // Again (a retry after a lost reply): nothing more to give back, the ack is a no-op.
      assert.equal(await b.finish('j', 'a', msg!.ackId), false);
      assert.deepEqual(await b.reclaim('a', 0, 10), [], 'an acknowledged message is never reclaimed');
      assert.equal(await sut.unacked('a'), 0);
    });

    it('sees a stop request as a flag and as a control message, until it stops watching', async () => {
      await g.createJob(newJob('j', 'b1'), 600);
      await b.claim('j', 1, 'b1');
      assert.equal((await b.readJob('j'))?.cancelRequested, false);
      const first: string[] = [];
      let heard: () => void = () => undefined;
      let arrived = new Promise<void>((r) => (heard = r));
      const unwatch = await b.watchControl('b1', (m) => {
        first.push(m.jobId);
        heard();
      });
      assert.equal(await g.cancelJob('j'), 'running');
      await g.signalBuilder('b1', 'j');
      await arrived;
      assert.equal((await b.readJob('j'))?.cancelRequested, true);
      await unwatch();
      const second: string[] = [];
      arrived = new Promise<void>((r) => (heard = r));
      const unwatch2 = await b.watchControl('b1', (m) => {
        second.push(m.jobId);
        heard();
      });
      try {
        await g.signalBuilder('b1', 'k');
        await arrived;
        assert.deepEqual([first, second], [['j'], ['k']], 'an ended watch hears nothing more');
      } finally {
        await unwatch2();
      }
    });
  });
}
