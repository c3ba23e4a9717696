/**
 * The pot runner over the FreeBSD test double (test/doubles/pot): the sandbox conformance suite,
 * then what the runner promises beyond it, checked on the double's state and call log.
 */
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createHostTools } from '../../builders/freebsd/host-tools.ts';
import { fileLeaseStore } from '../../builders/freebsd/leases.ts';
import { createPotPool, type PotPool } from '../../builders/freebsd/pool.ts';
import { createPotRunner } from '../../builders/freebsd/pot-runner.ts';
import type { SandboxRunner } from '../../builders/core/sandbox.ts';
import {
  doubleToolPaths,
  potDoubleSkip,
  startPotHost,
  type Call,
  type PotHost,
} from '../helpers/pot-double.ts';
import { runJob, sandboxConformance, TEST_LIMITS } from '../sandbox/conformance.ts';

const T = { timeout: 120_000 };

describe('pot runner over the test double', { skip: potDoubleSkip }, () => {
  let host: PotHost;
  let pool: PotPool;
  let runner: SandboxRunner;
  const notices: string[] = [];

  before(async () => {
    host = await startPotHost();
    const tools = createHostTools(doubleToolPaths());
    pool = createPotPool({
      tools,
      leases: fileLeaseStore(`${host.work}/state/leases.json`),
      owner: 'conf',
      template: 'kiln-build',
      size: 2,
      leaseMs: 3_600_000,
      loopbackNet: '127.0.9',
      log: (m) => notices.push(m),
    });
    await pool.start();
    runner = createPotRunner({ tools, pool, log: (m) => notices.push(m) });
  });
  after(async () => {
    await pool?.stop();
    await host?.close();
  });

  sandboxConformance('pot (over the test double)', async () => runner);

  describe('beyond the conformance suite', () => {
    const sh = (script: string): string[] => ['/bin/sh', '-c', script];
    /** The calls of the double about one pot, from the exec of a job that printed `marker`. */
    const callsOfJob = async (marker: string): Promise<{ pot: string; calls: Call[] }> => {
      const all = await host.calls();
      const exec = all.find(
        (c) => c.tool === 'pot' && c.args[0] === 'exec' && c.args.some((a) => a.includes(marker)),
      );
      assert.ok(exec, `no exec of ${marker}`);
      const pot = exec.args[exec.args.indexOf('-p') + 1]!;
      return {
        pot,
        calls: all.filter((c) =>
          c.args.some(
            (a) =>
              a === pot ||
              a.includes(`:${pot}:`) ||
              a === `jail:${pot}` ||
              a === `name=${pot}` ||
              a.endsWith(`/jails/${pot}`),
          ),
        ),
      };
    };

    it('runs the command as the unprivileged jail user of the profile', T, async () => {
      const { r, out } = await runJob(runner, host.work, { argv: sh('id -u; id -g') });
      assert.equal(r.exitCode, 0);
      assert.equal(out.stdout, '1001\n1001\n');
    });

    it('gives each pot one loopback address and takes raw sockets away after every start', T, async () => {
      const { r } = await runJob(runner, host.work, { argv: sh('echo net-check') });
      assert.equal(r.exitCode, 0);
      const { pot, calls } = await callsOfJob('net-check');
      const clone = calls.find((c) => c.args[0] === 'clone')!;
      assert.deepEqual(clone.args.slice(-4), ['-N', 'alias', '-i', clone.args.at(-1)!]);
      assert.match(clone.args.at(-1)!, /^lo0\|127\.0\.9\.\d+$/);
      const steps = calls.map((c) => `${c.tool} ${c.args[0]}`);
      steps.forEach((s, i) => {
        if (s === 'pot start') assert.equal(steps[i + 1], 'jail -m', `${pot}: ${steps.join(', ')}`);
      });
      const exec = steps.indexOf('pot exec');
      assert.ok(steps.lastIndexOf('jail -m', exec) > steps.lastIndexOf('pot start', exec));
    });

    it("applies the job's limits through rctl before the command and removes them after", T, async () => {
      const limits = { ...TEST_LIMITS, memoryMiB: 200, pids: 40 };
      const { r, out } = await runJob(runner, host.work, {
        argv: sh(
          'echo limit-check; i=0; while [ $i -lt 60 ]; do sleep 30 & i=$((i+1)); done; echo forked $i',
        ),
        limits,
      });
      assert.notEqual(r.exitCode, 0, 'the shell could not fork its 60 children');
      assert.match(out.stderr, /fork/i);
      assert.doesNotMatch(out.stdout, /forked 60/, 'the process limit held');
      const { pot, calls } = await callsOfJob('limit-check');
      const i = calls.findIndex(
        (c) => c.tool === 'pot' && c.args[0] === 'exec' && c.args.some((a) => a.includes('limit-check')),
      );
      const add = calls.slice(0, i).findLast((c) => c.tool === 'rctl' && c.args[0] === '-a')!;
      assert.deepEqual(add.args, [
        '-a',
        `jail:${pot}:memoryuse:deny=${200 * 1024 * 1024}`,
        `jail:${pot}:memoryuse:log=${200 * 1024 * 1024}`,
        `jail:${pot}:maxproc:deny=40`,
      ]);
      const rest = calls.slice(i).map((c) => `${c.tool} ${c.args.join(' ')}`);
      assert.ok(rest.includes(`rctl -r jail:${pot}`), rest.join('\n'));
    });

    it("sets the job's disk limit as the ZFS quota of the pot's datasets before the command", T, async () => {
      const { r } = await runJob(runner, host.work, {
        argv: sh('echo quota-check'),
        limits: { ...TEST_LIMITS, diskMiB: 300 },
      });
      assert.equal(r.exitCode, 0);
      const { pot, calls } = await callsOfJob('quota-check');
      const i = calls.findIndex(
        (c) => c.tool === 'pot' && c.args[0] === 'exec' && c.args.some((a) => a.includes('quota-check')),
      );
      const set = calls.slice(0, i).findLast((c) => c.tool === 'zfs');
      // The double's pot config answers zroot/pot (POT_ZFS_ROOT unset); its zfs refuses any other form.
      assert.deepEqual(set?.args, ['set', 'quota=300M', `zroot/pot/jails/${pot}`]);
      assert.equal(
        (await readFile(join(host.root, 'jails', pot, 'zfs.quota'), 'utf8')).trim(),
        '300M',
        'the double accepted it for an existing pot',
      );
    });

    it('tells a job that hit its memory limit apart (rctl reported it)', T, async () => {
      const { r } = await runJob(runner, host.work, {
        argv: sh('x=$(head -c 300000000 /dev/zero | tr "\\0" a); echo ${#x}'),
        limits: { ...TEST_LIMITS, memoryMiB: 64 },
      });
      assert.equal(r.oomKilled, true);
      const ok = await runJob(runner, host.work, { argv: sh('echo fine') });
      assert.equal(ok.r.oomKilled, false, 'an earlier report is not counted again');
    });

    it('mounts the toolchain read-only at its own paths', T, async () => {
      const tc = await mkdtemp(join(host.work, 'tc-'));
      await chmod(tc, 0o755);
      await mkdir(join(tc, 'opt', 'tc'), { recursive: true });
      await writeFile(join(tc, 'opt', 'tc', 'hello.txt'), 'from the toolchain\n');
      const { r, out } = await runJob(runner, host.work, {
        argv: sh('cat /opt/tc/hello.txt; touch /opt/tc/x 2>/dev/null && echo writable || echo read-only'),
        rootDir: tc,
      });
      assert.equal(r.exitCode, 0);
      assert.equal(out.stdout, 'from the toolchain\nread-only\n');
    });
  });
});
