/**
 * The end of a job (builders/linux/bwrap-watch.ts): the OOM verdict is read while the group
 * settles, not after it, and stays right, against this host's real cgroups: a group whose process
 * the kernel's OOM killer took, with stragglers still to kill, and one that stayed within its limit.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdir, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { settleWithVerdict } from '../../builders/linux/bwrap-watch.ts';
import { createCgroupManager } from '../../builders/linux/cgroup.ts';
import type { JobGroup } from '../../builders/linux/cgroup-group.ts';

const T = { timeout: 60_000 };
const MiB = 1024 * 1024;

/** `g`, noting when its settle and its OOM read start and end. */
function traced(g: JobGroup, events: string[]): JobGroup {
  return {
    ...g,
    async settle() {
      events.push('settle');
      try {
        await g.settle();
      } finally {
        events.push('settled');
      }
    },
    async oomKilled() {
      events.push('verdict');
      try {
        return await g.oomKilled();
      } finally {
        events.push('verdict read');
      }
    },
  };
}

/** A shell in `g` running `script` (it waits to be moved in before it starts). */
async function inGroup(g: JobGroup, script: string): Promise<void> {
  const c = spawn('/bin/sh', ['-c', `read _; ${script}`], { stdio: ['pipe', 'ignore', 'ignore'] });
  c.on('error', () => undefined);
  await g.add(c.pid as number);
  c.stdin.end('\n');
}

const overlapped = (e: string[]): boolean =>
  e.indexOf('verdict') < e.indexOf('settled') && e.indexOf('settle') < e.indexOf('verdict read');

describe('the end of a job', { skip: process.getuid?.() !== 0 ? 'needs root' : false }, () => {
  const parent = `kiln-watchtest-${process.pid}`;
  const m = createCgroupManager({ parent, log: () => undefined });
  after(async () => {
    await m.close();
    for (const c of ['', ...(await readdir('/sys/fs/cgroup').catch(() => [] as string[]))])
      await rmdir(join('/sys/fs/cgroup', c, parent)).catch(() => undefined);
  });

  it('reads an OOM kill while the group settles, stragglers and all', T, async () => {
    const g = await m.create({ memoryBytes: 32 * MiB, pids: 20 });
    assert.ok(g, 'a cgroup');
    // The pipe's reader outgrows the limit and is OOM-killed; the shell and its sleep stay.
    await inGroup(g, 'sleep 600 & head -c 300m /dev/zero | tail > /dev/null; wait');
    while (!(await g.oomKilled())) await new Promise((r) => setTimeout(r, 10));
    assert.ok((await g.pids()).length > 0, 'stragglers left to settle');
    const events: string[] = [];
    assert.equal(await settleWithVerdict(traced(g, events)), true);
    assert.deepEqual(await g.pids(), []);
    assert.ok(overlapped(events), events.join(', '));
    await g.remove();
  });

  it('answers no OOM kill for a group within its limit', T, async () => {
    const g = await m.create({ memoryBytes: 64 * MiB, pids: 20 });
    assert.ok(g, 'a cgroup');
    await inGroup(g, 'head -c 10m /dev/zero | tail > /dev/null; sleep 600');
    while ((await g.pids()).length < 2) await new Promise((r) => setTimeout(r, 10));
    const events: string[] = [];
    assert.equal(await settleWithVerdict(traced(g, events)), false);
    assert.deepEqual(await g.pids(), []);
    assert.ok(overlapped(events), events.join(', '));
    await g.remove();
  });
});
