/**
 * The builder-wide disk reserve: the guard's states with a free-space reading the test controls,
 * then a real farm (redis-server, gateway and builders as processes) where a builder whose work
 * disk (a 32 MiB tmpfs) is below its 64 MiB reserve registers draining, takes no job, and says why,
 * while the jobs run on a builder with room.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createDiskGuard } from '../../builders/core/disk-guard.ts';
import { startFaultFarm } from '../faults/farm.ts';
import { api, waitJob } from '../helpers/http.ts';

const MiB = 1024 ** 2;

describe('disk reserve', { timeout: 120_000 }, () => {
  it('takes no job below the reserve, and after ENOSPC until minFreeBytes are free', () => {
    let free = 100 * MiB;
    const logs: string[] = [];
    const g = createDiskGuard(
      '/work',
      { reserveBytes: 50 * MiB, minFreeBytes: 80 * MiB, free: () => free },
      (m) => logs.push(m),
    );
    assert.equal(g.full(), false);
    free = 10 * MiB;
    assert.equal(g.stillFull(), true, 'below the reserve (a heartbeat reads the disk afresh)');
    assert.match(logs.at(-1)!, /less than its reserve of 52428800 bytes free: taking no jobs/);
    free = 60 * MiB;
    assert.equal(g.stillFull(), false);
    g.markFull();
    assert.equal(g.full(), true, 'a job hit ENOSPC');
    assert.equal(g.stillFull(), true, '60 MiB is above the reserve but below minFreeBytes');
    free = 90 * MiB;
    assert.equal(g.stillFull(), false);
    assert.match(logs.at(-1)!, /has room again/);
  });

  it('a builder below its reserve registers draining and its jobs run elsewhere', async () => {
    const f = await startFaultFarm({ builders: 0, slots: 1 });
    const small = join(f.dir, 'small');
    await mkdir(small);
    let mounted = false;
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=32m', 'tmpfs', small]);
      mounted = true;
      const low = await f.addBuilder({ workDir: small, reserveBytes: 64 * MiB });
      await low.waitFor(/less than its reserve of 67108864 bytes free: taking no jobs/);
      await f.addBuilder();
      const c = { url: f.url, token: f.token };
      const lowId = f.builderId(low);
      for (let i = 0; i < 3; i++) {
        const r = await api(c, '/api/v1/jobs', {
          method: 'POST',
          json: { argv: ['sh', '-c', 'echo hi > /job/f'] },
        });
        assert.equal(r.status, 201, JSON.stringify(r.body));
        const job = await waitJob(c, (r.body as { job: { id: string } }).job.id);
        assert.equal(job.state, 'succeeded', JSON.stringify(job));
        assert.notEqual(job.builder, lowId, 'never on the builder below its reserve');
      }
      const info = JSON.parse(
        (await f.conn.hget(f.keys.registry('linux-x86_64').builders, lowId)) ?? '{}',
      ) as {
        draining?: boolean;
      };
      assert.equal(info.draining, true);
    } finally {
      for (const b of f.builders) if (b.child.exitCode === null) b.child.kill('SIGKILL');
      await Promise.all(f.builders.map((b) => b.exited));
      if (mounted) execFileSync('umount', ['-l', small]);
      await f.stop();
    }
  });
});
