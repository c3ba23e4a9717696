/** Fault scenario (gateway kill -9 during a sweep) against real processes; see test/faults/farm.ts and scenario.ts. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startFaultFarm } from './farm.ts';
import { expectClean, procOf, runningByBuilder, submit, tally, until } from './scenario.ts';

describe('faults: gateway kill -9 during a sweep', { timeout: 175_000 }, () => {
  it('gateway kill -9 during a sweep: the next gateway places the lost jobs', async () => {
    const f = await startFaultFarm({ builders: 2, slots: 2 });
    try {
      f.gateway.child.kill('SIGKILL');
      await f.gateway.exited;
      const gw = await f.startGateway('sweep:after-remove');
      const jobs = Array.from({ length: 3 }, (_, i) => submit(f, i, 3));
      const busy = await until('a running job', async () => {
        const m = await runningByBuilder(f);
        return m.size > 0 ? m : null;
      });
      procOf(f, [...busy.keys()][0]!)!.child.kill('SIGKILL');
      await gw.waitFor(/fault point sweep:after-remove reached/);
      gw.child.kill('SIGKILL'); // the builder is removed, its jobs not yet placed again
      await gw.exited;
      assert.ok(
        (await f.conn.scard(f.keys.registry('linux-x86_64').replace)) > 0,
        'the lost jobs wait in the to-place-again set',
      );
      await f.startGateway();
      await f.addBuilder();
      const row = await tally('gateway kill -9 during a sweep', jobs);
      expectClean(row);
      assert.equal(row.completedOnce, 3);
    } finally {
      await f.stop();
    }
  });
});
