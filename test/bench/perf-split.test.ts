/**
 * bench:farm-cpu's attribution of perf samples (bench/profile/perf-split.ts): a sandbox under the
 * builder's launcher (which ran before perf attached, so perf saw no fork of it) is charged to the
 * builder, with the launcher itself, its forks, bwrap and the job's compiler each on its own line;
 * and the processes already under a process are found in /proc with their parents.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { NODE_FORK, processTree, splitSamples, type Root } from '../../bench/profile/perf-split.ts';

/** A sample line and a fork line as `perf script --show-task-events -F pid,tid,comm` (perf 6.1) prints them. */
const sample = (comm: string, pid: number): string => `${comm.padStart(16)} ${pid}/${pid} `;
const fork = (comm: string, child: number, parent: number): string =>
  `${comm.padStart(16)} ${parent}/${parent} PERF_RECORD_FORK(${child}:${child}):(${parent}:${parent})`;

describe('perf sample attribution', () => {
  it("charges the launcher's tree to the builder, line by line", () => {
    // builder 100 > launcher 200 > watcher 300 (both before perf attached) > gate 400 > bwrap 400
    // > its monitor 500 > the job's gcc 600 > cc1 700, as 800; 900 is no farm process.
    const roots = new Map<number, Root>([
      [100, { root: 'builder', fork: NODE_FORK }],
      [200, { root: 'builder', self: 'launcher (itself)', fork: ['perl', 'launcher fork'] }],
      [50, { root: 'redis' }],
    ]);
    const parents = new Map([
      [200, 100],
      [300, 200],
    ]);
    const script = [
      sample('node', 100),
      sample('perl', 200),
      sample('perl', 300),
      fork('perl', 400, 300),
      sample('perl', 400),
      sample('bwrap', 400),
      fork('bwrap', 500, 400),
      sample('bwrap', 500),
      fork('gcc', 600, 500),
      fork('gcc', 700, 600),
      fork('gcc', 800, 600),
      sample('cc1', 700),
      sample('cc1', 700),
      sample('as', 800),
      fork('node', 1000, 100),
      sample('node', 1000),
      sample('mkfs.ext4', 1000),
      sample('redis-server', 50),
      sample('make', 900),
      '       perf-exec     0/0     PERF_RECORD_COMM: perf-exec:13872/13872',
    ].join('\n');
    const got = splitSamples(script, roots, 2, parents);
    assert.deepEqual(
      [...got].map(([r, m]) => [r, Object.fromEntries(m)]),
      [
        [
          'builder',
          {
            '(itself)': 2,
            'launcher (itself)': 2,
            'launcher fork': 4,
            bwrap: 4,
            cc1: 4,
            as: 2,
            'node fork, before exec': 2,
            'mkfs.ext4': 2,
          },
        ],
        ['redis', { '(itself)': 2 }],
        ['other', { make: 2 }],
      ],
    );
  });

  it('finds what already runs under a process, each with its parent', async () => {
    const c = spawn('/bin/sh', ['-c', 'sh -c "sleep 600; true" & sleep 600 & echo up; wait'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    try {
      await once(c.stdout, 'data');
      const comm = async (pid: number): Promise<string> =>
        (await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '')).trim();
      let tree = new Map<number, number>();
      // Both sleeps have started (each after its fork): wait for that state.
      for (let tries = 0; tries < 500; tries++) {
        tree = await processTree(c.pid!);
        const sleeps = (await Promise.all([...tree.keys()].map(comm))).filter((n) => n === 'sleep');
        if (sleeps.length === 2) break;
        await new Promise((r) => setTimeout(r, 10));
      }
      const named = await Promise.all(
        [...tree].map(async ([pid, parent]) => ({ pid, parent, n: await comm(pid) })),
      );
      assert.equal(tree.size, 3, JSON.stringify(named));
      assert.ok(!tree.has(c.pid!), 'not the process itself');
      // One sleep is the shell's child, the other its grandchild, under the inner shell.
      const inner = named.find((x) => x.n === 'sh' && x.parent === c.pid);
      assert.ok(inner, JSON.stringify(named));
      const sleeps = named.filter((x) => x.n === 'sleep').map((x) => x.parent);
      assert.deepEqual(sleeps.sort(), [c.pid!, inner.pid].sort());
    } finally {
      const left = await processTree(c.pid!);
      c.kill('SIGKILL');
      for (const pid of left.keys()) process.kill(pid, 'SIGKILL');
    }
  });
});
