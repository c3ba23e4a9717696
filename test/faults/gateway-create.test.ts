/** Fault scenario (gateway kill -9 between placement and enqueue) against real processes; see test/faults/farm.ts and scenario.ts. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startFaultFarm } from './farm.ts';
import { expectClean, submit, tally, until } from './scenario.ts';

describe('faults: gateway kill -9 between placement and enqueue', { timeout: 175_000 }, () => {
  it('gateway kill -9 between placement and enqueue: no slot leaks, the job is made once', async () => {
    const f = await startFaultFarm({ builders: 1, slots: 2 });
    try {
      f.gateway.child.kill('SIGKILL');
      await f.gateway.exited;
      const gw = await f.startGateway('create:after-place');
      const jobs = [submit(f, 0, 1)];
      await gw.waitFor(/fault point create:after-place reached/);
      assert.equal(
        Object.keys(await f.conn.hgetall(f.keys.registry('linux-x86_64').assign)).length,
        1,
        'a slot is held',
      );
      assert.equal(
        await f.conn.zcard(f.keys.registry('linux-x86_64').creating),
        1,
        'its creation guard was set with the slot',
      );
      gw.child.kill('SIGKILL');
      await gw.exited;
      await f.startGateway();
      const row = await tally('gateway kill -9 between placement and enqueue', jobs);
      expectClean(row);
      assert.equal(row.completedOnce, 1);
      // The slot the killed gateway reserved is given back by a sweep.
      await until(
        'no slot held',
        async () =>
          Object.keys(await f.conn.hgetall(f.keys.registry('linux-x86_64').load)).length > 0 &&
          Object.values(await f.conn.hgetall(f.keys.registry('linux-x86_64').load)).every((v) => v === '0'),
      );
      assert.equal(await f.conn.zcard(f.keys.registry('linux-x86_64').creating), 0, 'no creation guard left');
    } finally {
      await f.stop();
    }
  });
});
