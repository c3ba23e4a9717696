/** Fault scenario (builder SIGTERM) against real processes; see test/faults/farm.ts and scenario.ts. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startFaultFarm } from './farm.ts';
import { expectClean, procOf, runningByBuilder, submit, tally, until } from './scenario.ts';

describe('faults: builder SIGTERM', { timeout: 175_000 }, () => {
  it('builder SIGTERM: it drains, its running jobs finish on it, it exits 0', async () => {
    const f = await startFaultFarm({ builders: 2, slots: 2, drainMs: 30_000 });
    try {
      const jobs = Array.from({ length: 3 }, (_, i) => submit(f, i, 3));
      const busy = await until('a running job', async () => {
        const m = await runningByBuilder(f);
        return m.size > 0 ? m : null;
      });
      const victim = procOf(f, [...busy.keys()][0]!)!;
      victim.child.kill('SIGTERM');
      await victim.waitFor(/draining/);
      const row = await tally('builder SIGTERM (drain)', jobs);
      expectClean(row);
      assert.equal(row.completedOnce, 3);
      assert.deepEqual(await victim.exited, { code: 0, signal: null });
      assert.ok(!victim.log.some((l) => /handing \d+ job\(s\) back/.test(l)), 'finished within the bound');
    } finally {
      await f.stop();
    }
  });
});
