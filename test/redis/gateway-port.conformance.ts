/**
 * The gateway-port conformance suite: every FarmState implementation passes it (with the builder
 * port of the same farm to set the scene). Call `gatewayPortConformance(name, make)` from a
 * `*.test.ts` file; `make` builds a fresh, empty farm for each test. No test waits for time:
 * expiry takes the clock as an argument, wake-ups are awaited as events.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { sweepOnce } from '../../gateway/sweeper.ts';
import { verifyJobToken } from '../../protocol/token.ts';
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
const LOST = { code: 'ERR_JOB_LOST', message: 'lost' };

/** Registers the suite's tests under `describe(name)`. */
export function gatewayPortConformance(name: string, make: MakeFarm): void {
  describe(`gateway port conformance: ${name}`, () => {
    let sut: FarmUnderTest;
    let g: FarmState;
    let b: BuilderFarm;
    beforeEach(async () => {
      sut = await make();
      g = sut.gateway;
      b = sut.builder;
    });
    afterEach(() => sut.cleanup());

    const register = (id: string, over: Parameters<typeof info>[1] = {}) =>
      b.register(info(id, over), KEY, LONG_LEASE_MS);

    it('places on the platform asked for; none there or all full is ERR_NO_CAPACITY', async () => {
      await register('lin', { slots: 1 });
      await register('bsd', { platform: 'freebsd-amd64', slots: 1 });
      assert.equal(await g.placeJob('j1', 'freebsd-amd64', ''), 'bsd');
      assert.equal(await g.placeJob('j2', X86, ''), 'lin');
      await assert.rejects(g.placeJob('j3', X86, ''), { code: 'ERR_NO_CAPACITY', message: /busy/ });
      await assert.rejects(g.placeJob('j4', 'linux-aarch64', ''), {
        code: 'ERR_NO_CAPACITY',
        message: /no live builder/,
      });
      await assert.rejects(g.placeJob('j1', 'freebsd-amd64', ''), {
        code: 'ERR_CONFLICT',
        message: /placed/,
      });
    });

    it('prefers the toolchain warm, even when busier, then the lowest load ratio', async () => {
      await register('small', { slots: 2 });
      await register('big', { slots: 8 });
      const first = await g.placeJob('j1', X86, '');
      const second = await g.placeJob('j2', X86, '');
      assert.notEqual(second, first, 'an idle builder before a busy one');
      assert.equal(await g.placeJob('j3', X86, ''), 'big', '1/8 loaded before 1/2');
      await register('warm', { slots: 2, warm: ['tc1'] });
      await g.placeJob('w1', X86, 'tc1');
      assert.equal(await g.placeJob('w2', X86, 'tc1'), 'warm', 'warm at 1/2 wins over cold at 2/8');
      assert.equal(await g.placeJob('w3', X86, 'tc2'), 'big', 'another toolchain: load decides');
      assert.equal(await g.placeJob('w4', X86, 'tc1'), 'big', 'warm but full: the least loaded');
    });

    it('skips builders that drain themselves, that an admin drained, or whose lease ended', async () => {
      await register('self', { draining: true, slots: 8 });
      await register('named-1', { name: 'named', slots: 8 });
      await register('ended', { slots: 8 });
      await register('ok', { slots: 1 });
      await b.endLease('ended');
      const mark = { by: 'ops', at: '2026-01-01T00:00:00.000Z' };
      assert.deepEqual(await g.drainBuilder('named', mark), mark);
      assert.deepEqual(await g.drainBuilder('named', { by: 'x', at: 'y' }), mark, 'the first mark stays');
      // Its heartbeat rewrites its info (draining: false) and a restart registers a new id under
      // the same name: an admin's drain holds through both.
      await b.renew(info('named-1', { name: 'named', slots: 8 }), LONG_LEASE_MS);
      await register('named-2', { name: 'named', slots: 8 });
      assert.equal(await g.placeJob('j1', X86, ''), 'ok');
      await assert.rejects(g.placeJob('j2', X86, ''), { code: 'ERR_NO_CAPACITY' });
      assert.deepEqual([...(await g.listDrains()).entries()], [['named', mark]]);
      const drains = (await g.listBuilders()).map((v) => [v.info.id, v.drain?.by ?? null]);
      assert.deepEqual(drains.sort(), [
        ['ended', null],
        ['named-1', 'ops'],
        ['named-2', 'ops'],
        ['ok', null],
        ['self', null],
      ]);
      assert.equal(await g.undrainBuilder('named'), true);
      assert.equal(await g.undrainBuilder('named'), false, 'undrained once');
      assert.match(await g.placeJob('j2', X86, ''), /^named-/);
    });

    it('a slot is released once, and the load shows it', async () => {
      await register('a', { slots: 3 });
      await g.placeJob('j1', X86, '');
      await g.placeJob('j2', X86, '');
      assert.equal(await g.releaseSlot('j1', 'other'), false, 'only the builder holding it');
      assert.equal(await g.releaseSlot('j1', 'a'), true);
      assert.equal(await g.releaseSlot('j1', 'a'), false);
      const [view] = await g.listBuilders();
      assert.equal(view?.info.id, 'a');
      assert.equal(view?.load, 1);
      assert.equal(view?.drain, null);
      assert.ok(view!.leaseExpiresAt > Date.now(), 'the lease lies in the future');
    });

    it('stores job records; status reads leave the inline files out; delete removes job and log', async () => {
      const rec = newJob('j', 'b1', {
        inline: [{ path: 'a.c', data: Buffer.from('int a;'), executable: false }],
      });
      await g.createJob({ ...rec, action: 'act', cacheScope: 'scope' }, 600);
      const got = await g.getJob('j');
      assert.equal(got?.state, 'queued');
      assert.equal(got?.attempt, 1);
      assert.deepEqual([got?.bid, got?.sub, got?.tenant, got?.action], ['b1', 'alice', 't1', 'act']);
      assert.equal(got?.spec.inline, undefined, 'status reads skip inline files');
      assert.deepEqual(got?.spec.argv, ['true']);
      await g.appendLogMarker('j', 'end', 1);
      await g.deleteJob('j');
      assert.equal(await g.getJob('j'), null);
      assert.deepEqual(await g.readLog('j', '0', 10), []);
      assert.equal(await g.getJob('never'), null);
    });

    it('requeue moves the lost attempt to a new builder, or fails it; stale or finished: nothing', async () => {
      await g.createJob(newJob('j', 'b1'), 600);
      await b.claim('j', 1, 'b1');
      assert.equal(await g.requeueJob('j', 1, 3, 'b2', LOST), 2);
      const moved = await g.getJob('j');
      assert.deepEqual(
        [moved?.state, moved?.attempt, moved?.bid, moved?.startedAt],
        ['queued', 2, 'b2', null],
      );
      assert.equal(await g.requeueJob('j', 1, 3, 'b3', LOST), null, 'the lost attempt is stale now');
      assert.equal(await b.complete('j', 1, 'b1', succeeded()), false, 'the lost builder is too late');
      assert.equal(await g.requeueJob('j', 2, 2, 'b3', LOST), 0, 'no attempt left: failed');
      const failed = await g.getJob('j');
      assert.equal(failed?.state, 'failed');
      assert.deepEqual(failed?.error, LOST);
      assert.equal(await g.requeueJob('j', 2, 5, 'b3', LOST), null, 'finished');
      await g.createJob(newJob('k', 'b1'), 600);
      assert.equal(await g.requeueJob('k', 1, 5, '', LOST), 0, 'no builder to take it: failed');
      assert.equal(await g.requeueJob('nope', 1, 5, 'b2', LOST), null);
    });

    it('expiry hands back the jobs a builder held; its key outlives the lease', async () => {
      await register('a', { slots: 1 });
      await g.placeJob('x1', X86, '');
      await register('b', { slots: 1 });
      await g.placeJob('x2', X86, '');
      assert.deepEqual(gone(await g.expireBuilders(Date.now())), [], 'nothing expired yet');
      await b.endLease('a');
      assert.deepEqual(gone(await g.expireBuilders(Date.now())), [{ bid: 'a', jobs: ['x1'] }]);
      assert.deepEqual(gone(await g.expireBuilders(Date.now())), [], 'removed once');
      assert.deepEqual(
        (await g.listBuilders()).map((v) => v.info.id),
        ['b'],
      );
      assert.deepEqual(gone(await g.expireBuilders(Date.now() + LONG_LEASE_MS + 1)), [
        { bid: 'b', jobs: ['x2'] },
      ]);
      assert.deepEqual(
        (await g.toPlaceAgain()).map((j) => j.jobId).sort(),
        ['x1', 'x2'],
        'their jobs wait to be placed again',
      );
      await g.placedAgain(X86, 'x1');
      assert.deepEqual(
        (await g.toPlaceAgain()).map((j) => [j.platform, j.jobId]),
        [[X86, 'x2']],
      );
      assert.deepEqual(await g.builderKey('a'), KEY, 'tokens it signed still verify');
      assert.equal(await g.builderKey('never'), null);
    });

    it('a builder’s signing key is known while it is registered and after it is removed', async () => {
      const key = 'A'.repeat(43);
      await register('s1', { signingKey: key });
      await register('old'); // a builder without a signing key (older than signed results)
      const rec = await g.signerKey('s1');
      assert.ok(rec, 'registered with the lease');
      assert.deepEqual(
        { ...rec, registeredAt: '', lastSeen: 0 },
        { builder: 's1', name: 's1', platform: X86, key, registeredAt: '', lastSeen: 0 },
      );
      assert.ok(Date.parse(rec.registeredAt) > 0 && rec.lastSeen > 0);
      assert.equal(await g.signerKey('old'), null);
      assert.equal(await g.signerKey('never'), null);
      const seen = (await g.signerKey('s1'))!.lastSeen;
      await b.renew(info('s1', { signingKey: key }), LONG_LEASE_MS);
      assert.deepEqual(
        (await g.listSigners()).map((s) => [s.builder, s.key]),
        [['s1', key]],
      );
      assert.ok((await g.listSigners())[0]!.lastSeen >= seen, 'a heartbeat renews it');
      // The signature a builder writes with a result is read back with the job.
      const signature = { v: 1, alg: 'Ed25519', job: 'sj', builder: 's1', key, sig: 'B'.repeat(86) } as const;
      await g.createJob(newJob('sj', 's1'), 600);
      await b.claim('sj', 1, 's1');
      assert.equal(await b.complete('sj', 1, 's1', { ...succeeded(), signature }), true);
      assert.deepEqual((await g.getJob('sj'))?.signature, signature);
      await b.endLease('s1');
      await g.expireBuilders(Date.now());
      assert.deepEqual(
        (await g.listBuilders()).map((v) => v.info.id),
        ['old'],
      );
      assert.equal((await g.signerKey('s1'))?.key, key, 'results it signed while registered stay its');
      assert.deepEqual(
        (await g.listSigners()).map((s) => s.builder),
        ['s1'],
      );
    });

    it('a sweep places the jobs of a lost builder again with a new token, and marks the restart', async () => {
      await register('a', { slots: 1 });
      await g.createJob(newJob('j', 'a'), 600);
      assert.equal(await g.placeJob('j', X86, ''), 'a');
      await b.claim('j', 1, 'a');
      await register('b', { slots: 1 });
      await b.endLease('a');
      const logs: string[] = [];
      assert.equal(await sweepOnce(g, { maxAttempts: 3, log: (m) => logs.push(m) }), 1);
      const rec = await g.getJob('j');
      assert.deepEqual([rec?.state, rec?.attempt, rec?.bid], ['queued', 2, 'b']);
      const [msg] = await b.pull('b', 10, 10);
      assert.deepEqual([msg?.jobId, msg?.attempt], ['j', 2]);
      await verifyJobToken(msg!.token, KEY, { jti: 'j', bid: 'b' });
      const log = await g.readLog('j', '0', 10);
      assert.deepEqual(
        log.map((e) => [e.kind, e.attempt]),
        [['restart', 2]],
      );
      assert.ok(logs.some((l) => l.includes('placed again on b')));
    });

    it('reads the log in order, from an id, a page at a time, bytes exact', async () => {
      await g.createJob(newJob('j', 'b1'), 600);
      const bytes = new Uint8Array(256).map((_, i) => i);
      await b.appendLog('j', 1, 'out', bytes, 0);
      await b.appendLog('j', 1, 'err', new TextEncoder().encode('warning\n'), 1);
      await g.appendLogMarker('j', 'restart', 2);
      await b.appendLog('j', 2, 'out', new TextEncoder().encode('again\n'), 0);
      await g.appendLogMarker('j', 'end', 2);
      const all = await g.readLog('j', '0', 100);
      assert.deepEqual(
        all.map((e) => [e.kind, e.attempt]),
        [
          ['out', 1],
          ['err', 1],
          ['restart', 2],
          ['out', 2],
          ['end', 2],
        ],
      );
      const first = all[0]!;
      assert.ok(first.kind === 'out');
      assert.deepEqual(new Uint8Array(first.data), bytes);
      const page = await g.readLog('j', all[1]!.id, 2);
      assert.deepEqual(
        page.map((e) => e.id),
        [all[2]!.id, all[3]!.id],
      );
      assert.deepEqual(await g.readLog('j', all[4]!.id, 10), []);
    });

    it('wakes a listener on output, on the end and when the job is done; counts early events', async () => {
      await g.createJob(newJob('j', 'b1'), 600);
      const l = await g.listenJob('j');
      try {
        await b.appendLog('j', 1, 'out', new Uint8Array([1]), 0);
        assert.equal(await l.next(10_000), true, 'output wakes it (sent before next was called)');
        const woken = l.next(10_000);
        await g.publishDone('j');
        assert.equal(await woken, true, 'done wakes it');
        const ended = l.next(10_000);
        await g.appendLogMarker('j', 'end', 1);
        assert.equal(await ended, true, 'the end marker wakes it');
        const ctl = new AbortController();
        const aborted = l.next(10_000, ctl.signal);
        ctl.abort();
        assert.equal(await aborted, false, 'an abort ends the wait without an event');
      } finally {
        l.close();
      }
    });

    it('admits and places in one step: a refused job is not placed, one without a slot stays admitted', async () => {
      await register('b1', { slots: 1 });
      const quota = { createPerSec: 100, jobsInFlight: 1 };
      const until = Date.now() + 600_000;
      const ids = async (t: string) => (await g.inFlight(t)).map((e) => e.id);
      assert.equal(await g.admitAndPlace('t', 'j1', quota, until, X86, ''), 'b1');
      assert.deepEqual(await ids('t'), ['j1']);
      assert.equal(await g.releaseSlot('j1', 'b1'), true);
      await assert.rejects(g.admitAndPlace('t', 'j2', quota, until, X86, ''), {
        code: 'ERR_RATE_LIMITED',
        message: /1 jobs queued or running/,
      });
      assert.equal(await g.assignedTo(X86, 'j2'), null, 'not placed');
      const slow = { createPerSec: 0.5, jobsInFlight: 100 };
      assert.equal(await g.admitAndPlace('r', 'r1', slow, until, X86, ''), 'b1');
      await assert.rejects(g.admitAndPlace('r', 'r2', slow, until, X86, ''), {
        code: 'ERR_RATE_LIMITED',
        message: /faster than its limit/,
      });
      assert.equal(await g.assignedTo(X86, 'r2'), null, 'not placed');
      assert.deepEqual(await ids('r'), ['r1']);
      await g.releaseInFlight('t', ['j1']);
      await assert.rejects(g.admitAndPlace('t', 'j3', quota, until, X86, ''), {
        code: 'ERR_NO_CAPACITY',
        message: /busy/,
      });
      assert.deepEqual(await ids('t'), ['j3'], 'admitted without a slot');
    });

    it("a completion's done event carries the finished job, as a read gives it; a bare done carries none", async () => {
      await register('b1');
      const job = newJob('j', 'b1', {
        inline: [{ path: 'a.c', data: new Uint8Array([1, 2]), executable: false }],
        inlineResult: true,
      });
      await g.createJob(job, 600);
      const l = await g.listenJob('j');
      try {
        const bare = l.next(10_000);
        await g.publishDone('j');
        assert.equal(await bare, true);
        assert.equal(l.finished(job.spec), null, 'a done without status says nothing of the job');
        await b.claim('j', 1, 'b1');
        const woken = l.next(10_000);
        const result = { stdout: 'aGk=', stderr: '', files: [] };
        await b.complete('j', 1, 'b1', succeeded({ exitCode: 3, state: 'failed', result }));
        assert.equal(await woken, true);
        const pushed = l.finished(job.spec);
        assert.ok(pushed, 'the completion carried the job');
        assert.equal(pushed.state, 'failed');
        assert.equal(pushed.exitCode, 3);
        assert.deepEqual(pushed.result, result);
        assert.deepEqual(pushed, await g.getJob('j'), 'the same record a status read gives');
      } finally {
        l.close();
      }
    });

    it('cancel kills a queued job, flags a running one for its builder, and leaves a finished one', async () => {
      await g.createJob(newJob('q', 'b1'), 600);
      assert.equal(await g.cancelJob('q'), 'killed');
      const q = await g.getJob('q');
      assert.equal(q?.state, 'killed');
      assert.ok(q?.finishedAt);
      await assert.rejects(b.claim('q', 1, 'b1'), { code: 'ERR_CONFLICT', message: /finished/ });
      await g.createJob(newJob('r', 'b1'), 600);
      await b.claim('r', 1, 'b1');
      assert.equal(await g.cancelJob('r'), 'running');
      assert.equal((await g.getJob('r'))?.cancelRequested, true);
      assert.equal((await b.readJob('r'))?.cancelRequested, true);
      assert.equal(await b.complete('r', 1, 'b1', succeeded({ state: 'killed', exitCode: null })), true);
      assert.equal(await g.cancelJob('r'), 'killed', 'a finished job answers its final state');
      assert.equal(await g.cancelJob('nope'), null);
    });

    it('delivers a stop request to the builder the job runs on', async () => {
      const got: string[] = [];
      let heard: () => void = () => undefined;
      const arrived = new Promise<void>((r) => (heard = r));
      const unwatch = await b.watchControl('b1', (m) => {
        got.push(`${m.type}:${m.jobId}`);
        heard();
      });
      try {
        await g.signalBuilder('other', 'x');
        await g.signalBuilder('b1', 'j');
        await arrived;
        assert.deepEqual(got, ['stop:j'], 'only its own messages');
      } finally {
        await unwatch();
      }
    });

    it('sets a creation guard with the slot, due when asked, removed by creationDone', async () => {
      await register('a', { slots: 1 });
      assert.equal(await g.placeJob('j1', X86, '', 5_000), 'a');
      assert.deepEqual(await g.dueCreations(4_999, 10), [], 'not due yet');
      assert.deepEqual(await g.dueCreations(5_000, 10), [{ platform: X86, jobId: 'j1' }]);
      await assert.rejects(g.placeJob('j2', X86, '', 5_000), { code: 'ERR_NO_CAPACITY' });
      assert.deepEqual(
        await g.dueCreations(9_000, 10),
        [{ platform: X86, jobId: 'j1' }],
        'no slot, no guard',
      );
      await g.creationDone(X86, 'j1');
      assert.deepEqual(await g.dueCreations(9_000, 10), []);
      await g.releaseSlot('j1', 'a');
      assert.equal(await g.placeJob('j3', X86, ''), 'a');
      assert.deepEqual(await g.dueCreations(Date.now() + 60_000, 10), [], 'no guard unless asked');
    });

    it('creates a record and its message together: the message is read after the record exists', async () => {
      await register('a');
      await g.createAndEnqueue(newJob('j', 'a'), 600, { jobId: 'j', attempt: 1, token: 'tok' });
      const [m] = await b.pull('a', 10, 10);
      assert.deepEqual([m?.jobId, m?.attempt, m?.token], ['j', 1, 'tok']);
      const rec = await g.getJob('j');
      assert.deepEqual([rec?.state, rec?.attempt, rec?.bid], ['queued', 1, 'a']);
    });

    it('enqueues messages on the chosen builder only; a lock is held once', async () => {
      await register('a');
      await register('b');
      await g.enqueue('a', { jobId: 'j', attempt: 1, token: 'tok' });
      assert.deepEqual(await b.pull('b', 10, 10), []);
      const [m] = await b.pull('a', 10, 10);
      assert.deepEqual([m?.jobId, m?.attempt, m?.token], ['j', 1, 'tok']);
      assert.equal(await g.tryLock('sweep', 60_000), true);
      assert.equal(await g.tryLock('sweep', 60_000), false);
      await g.ping();
    });
  });
}
