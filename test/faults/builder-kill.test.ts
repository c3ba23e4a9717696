/** Fault scenario (builder SIGKILL mid-job) against real processes; see test/faults/farm.ts and scenario.ts. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startFaultFarm } from './farm.ts';
import { expectClean, procOf, runningByBuilder, submit, tally, until } from './scenario.ts';

describe('faults: builder SIGKILL mid-job', { timeout: 175_000 }, () => {
  it('builder SIGKILL ×2 mid-job: every job completes once elsewhere', async () => {
    const f = await startFaultFarm({ builders: 3, slots: 2 });
    try {
      const jobs = Array.from({ length: 6 }, (_, i) => submit(f, i, 3));
      const busy = await until('4 running jobs', async () => {
        const m = await runningByBuilder(f);
        return [...m.values()].reduce((a, b) => a + b, 0) >= 4 ? m : null;
      });
      const victims = [...busy.keys()].slice(0, 2);
      for (const bid of victims) procOf(f, bid)?.child.kill('SIGKILL');
      await f.addBuilder();
      await f.addBuilder();
      const row = await tally('builder SIGKILL x2 mid-job', jobs);
      expectClean(row);
      assert.equal(row.completedOnce, 6);
    } finally {
      await f.stop();
    }
  });
});
