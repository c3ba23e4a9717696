/** Fault scenario (Redis kill -9 with AOF mid-load) against real processes; see test/faults/farm.ts and scenario.ts. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startFaultFarm } from './farm.ts';
import { expectClean, runningByBuilder, submit, tally, until } from './scenario.ts';

describe('faults: Redis kill -9 with AOF mid-load', { timeout: 175_000 }, () => {
  it('Redis kill -9 (AOF) mid-load: restarted, every job completes once', async () => {
    const f = await startFaultFarm({ builders: 2, slots: 2, leaseMs: 5000 });
    try {
      const jobs = [submit(f, 0, 2), submit(f, 1, 2), submit(f, 2, 2)];
      await until('a running job', async () => (await runningByBuilder(f)).size > 0);
      await f.killRedis();
      jobs.push(submit(f, 3, 1)); // submitted while Redis is down: waits out the 503s
      await f.restartRedis();
      jobs.push(submit(f, 4, 1));
      const row = await tally('Redis kill -9 (AOF) mid-load', jobs);
      expectClean(row);
      assert.equal(row.completedOnce, 5);
    } finally {
      await f.stop();
    }
  });
});
