/** Fault scenario (full builder disk) against real processes; see test/faults/farm.ts and scenario.ts. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startFaultFarm } from './farm.ts';
import { expectClean, submit, tally, until } from './scenario.ts';

describe('faults: full builder disk', { timeout: 175_000 }, () => {
  it('full builder disk: a clear ERR_NO_SPACE, then the builder takes no input jobs', async () => {
    const f = await startFaultFarm({ builders: 0, slots: 1 });
    const small = join(f.dir, 'small');
    await mkdir(small);
    let mounted = false;
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=6m', 'tmpfs', small]);
      mounted = true;
      // A reserve below the 6 MiB disk, so it takes the job that then fills it.
      await f.addBuilder({ workDir: small, minFreeBytes: 64 * 1024 ** 2, reserveBytes: 1024 ** 2 });
      const input = join(f.dir, 'in');
      await mkdir(input);
      await writeFile(join(input, 'big.bin'), Buffer.alloc(8 * 1024 ** 2, 1));
      const first = submit(f, 0, 0, ['--input', 'in'], f.dir);
      const r = await first.run;
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /work disk of builder \S+ is full.*\(ERR_NO_SPACE\)/);
      await f.addBuilder(); // a builder with room
      await until('the full builder draining', async () =>
        Object.values(await f.conn.hgetall(f.keys.registry('linux-x86_64').builders)).some(
          (raw) => (JSON.parse(raw) as { draining: boolean }).draining,
        ),
      );
      const second = submit(f, 1, 0, ['--input', 'in'], f.dir);
      const row = await tally('full builder disk', [{ n: 0, run: Promise.resolve(r) }, second]);
      expectClean(row);
      assert.equal(row.failedClearly, 1);
      assert.equal(row.completedOnce, 1);
    } finally {
      for (const b of f.builders) if (b.child.exitCode === null) b.child.kill('SIGKILL');
      await Promise.all(f.builders.map((b) => b.exited));
      if (mounted) execFileSync('umount', ['-l', small]);
      await f.stop();
    }
  });
});
