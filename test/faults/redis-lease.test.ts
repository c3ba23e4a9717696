/** Fault scenario (Redis down longer than the lease) against real processes; see test/faults/farm.ts and scenario.ts. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startFaultFarm } from './farm.ts';
import { expectClean, runningByBuilder, submit, tally, until } from './scenario.ts';

describe('faults: Redis down longer than the lease', { timeout: 175_000 }, () => {
  it('Redis down longer than the lease: builders register again, jobs complete once', async () => {
    const f = await startFaultFarm({ builders: 2, slots: 2, leaseMs: 1500 });
    try {
      const jobs = [submit(f, 0, 2), submit(f, 1, 2)];
      await until('a running job', async () => (await runningByBuilder(f)).size > 0);
      const before = f.builders.map((b) => f.builderId(b));
      await f.killRedis();
      // The outage itself: three lease lengths without Redis.
      await new Promise((r) => setTimeout(r, 4500));
      await f.restartRedis();
      await until('every builder registered again', async () =>
        f.builders.every((b, i) => f.builderId(b) !== before[i]),
      );
      const row = await tally('Redis down longer than the lease', jobs);
      expectClean(row);
      assert.equal(row.completedOnce, 2);
      assert.ok(
        f.builders.every((b) => b.child.exitCode === null),
        'no builder exited',
      );
    } finally {
      await f.stop();
    }
  });
});
