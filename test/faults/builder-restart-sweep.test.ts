/**
 * A builder killed with SIGKILL mid-job leaves its job disks (loop-mounted ext4 images under its
 * work directory, builders/linux/loop-disk.ts) mounted: nothing of it runs to unmount them. Its
 * sandboxes die with it (bwrap --die-with-parent), so only the host-side mounts stay. A builder
 * started again on the same work directory sweeps them before it registers: every mount the dead
 * one left is gone, its loop devices are detached, and the job it held completes (elsewhere or on
 * the new process). Real processes: redis-server, `kiln gateway`, `kiln builder` (test/faults/farm.ts).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { jobMountsUnder } from '../../builders/linux/loop-disk.ts';
import { startFaultFarm } from './farm.ts';
import { expectClean, runningByBuilder, submitWith, tally, until } from './scenario.ts';

/** Loop devices whose backing file is under `dir`: device name → backing file. */
async function loopsUnder(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const dev of await readdir('/sys/block')) {
    if (!dev.startsWith('loop')) continue;
    const file = await readFile(`/sys/block/${dev}/loop/backing_file`, 'utf8').catch(() => '');
    if (file.startsWith(`${dir}/`)) out.set(dev, file.trim());
  }
  return out;
}

/** Pids of processes whose command line contains `marker`. */
async function pidsWith(marker: string): Promise<string[]> {
  const pids: string[] = [];
  for (const p of await readdir('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    const cmd = await readFile(`/proc/${p}/cmdline`, 'utf8').catch(() => '');
    if (cmd.includes(marker)) pids.push(p);
  }
  return pids;
}

describe('faults: builder SIGKILL, then a restart on the same work directory', { timeout: 175_000 }, () => {
  it('the restarted builder unmounts every job disk the killed one left and frees its loop devices', async () => {
    const f = await startFaultFarm({ builders: 1, slots: 2 });
    try {
      const workDir = join(f.dir, 'work-0');
      const victim = f.builders[0]!;
      const marker = `kiln-sweep-${randomBytes(6).toString('hex')}`;
      // The job's command line carries the marker so its processes can be found on the host.
      const job = submitWith(f, 0, `sleep 4; : ${marker}`);
      await until('the job running on the builder', async () => (await runningByBuilder(f)).size > 0);
      await until('its sleep in the sandbox', async () => (await pidsWith(marker)).length > 0);
      const left = await jobMountsUnder(workDir);
      const loops = await loopsUnder(workDir);
      assert.ok(left.length >= 1, 'the running job has its disk mounted under the work directory');
      assert.ok(loops.size >= left.length, `a loop device per disk: ${[...loops.values()].join(', ')}`);

      victim.child.kill('SIGKILL');
      assert.deepEqual(await victim.exited, { code: null, signal: 'SIGKILL' });
      // Its sandboxes die with it (--die-with-parent); its host-side mounts do not.
      await until('the sandbox processes gone', async () => (await pidsWith(marker)).length === 0, 30_000);
      assert.deepEqual(await jobMountsUnder(workDir), left, 'nothing unmounted them');

      const again = await f.addBuilder({ workDir });
      assert.ok(
        again.log.some((l) => l.includes('left by a builder that was killed')),
        `the restarted builder says what it swept:\n${again.log.join('\n')}`,
      );
      const now = new Set(await jobMountsUnder(workDir));
      assert.deepEqual(
        left.filter((p) => now.has(p)),
        [],
        'no mount of the killed builder is left (what is mounted now is the new process’s own)',
      );
      // A loop device is detached once its last mount is gone; the kernel may take a moment.
      const held = async (): Promise<string[]> => {
        const cur = await loopsUnder(workDir);
        return [...loops]
          .filter(([dev, file]) => cur.get(dev) === file)
          .map(([dev, file]) => `${dev}: ${file}`);
      };
      await until(
        'the killed builder’s loop devices detached',
        async () => (await held()).length === 0,
        30_000,
      ).catch(() => undefined);
      assert.deepEqual(await held(), [], 'no loop device of the killed builder is still attached');

      const row = await tally('builder SIGKILL, restart on the same work dir', [job]);
      expectClean(row);
      assert.equal(row.completedOnce, 1);
    } finally {
      await f.stop();
    }
  });
});
