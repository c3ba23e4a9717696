/**
 * What a sandbox made ready ahead costs the builder's side in CPU: N jobs (`true`) one after the
 * other through the bubblewrap runner with a ready pool of 1, each taking the ready sandbox and
 * the next one being made after it (builders/linux/ready-pool.ts). Per job, so per sandbox made
 * ready, it prints the CPU of this process (the builder's runner) and of the children it reaped
 * (a `mkfifo` run), and of the sandbox launcher (builders/linux/launcher.ts) itself and of what it
 * reaped (its watchers, bwrap and the sandboxes), and the mean of the runner's steps (`settle`:
 * the group emptied and the OOM verdict read, after bwrap's exit). Needs root and bwrap.
 *
 *   npm run bench:ready-cpu -- [jobs]
 */
import { readdirSync, readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBwrapRunner } from '../builders/linux/bwrap-runner.ts';
import type { Limits } from '../protocol/job.ts';

const JOBS = Number(process.argv[2] ?? 60);
const TICK_MS = 10; // USER_HZ 100
const LIMITS: Limits = {
  timeoutSec: 30,
  graceSec: 1,
  memoryMiB: 256,
  pids: 64,
  logBytes: 1 << 20,
  outputBytes: 1 << 20,
  diskMiB: 64,
};

/** utime, stime, cutime, cstime of `pid`, in ms. */
function times(pid: number | 'self'): [number, number] {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  const [u, s, cu, cs] = [11, 12, 13, 14].map((i) => Number(f[i]) * TICK_MS);
  return [u! + s!, cu! + cs!];
}

/** The launcher of this process (its Perl child). */
function launcherPid(): number | undefined {
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8').split(') ')[1]!.split(' ');
      if (Number(stat[1]) !== process.pid) continue;
      if (readFileSync(`/proc/${d}/cmdline`, 'utf8').includes('launcher.pl')) return Number(d);
    } catch {
      // gone
    }
  }
  return undefined;
}

const base = await mkdtemp(join(tmpdir(), 'kiln-ready-cpu-'));
await chmod(base, 0o711);
const runner = createBwrapRunner({ ready: { dir: join(base, 'ready'), count: 1 }, log: () => undefined });
try {
  const steps = new Map<string, number>();
  const job = async (i: number): Promise<void> => {
    await runner.prepare!('default', LIMITS); // a ready sandbox waits
    const jobDir = await mkdtemp(join(base, `job-${i}-`));
    const r = await runner.run({
      jobId: `ready-cpu-${process.pid}-${i}`,
      argv: ['/bin/true'],
      env: { PATH: '/usr/bin:/bin' },
      cwd: '.',
      limits: LIMITS,
      profile: 'default',
      signal: new AbortController().signal,
      jobDir,
      onOutput: () => undefined,
    });
    if (r.exitCode !== 0) throw new Error(`job ${i}: ${JSON.stringify(r)}`);
    for (const [k, ms] of Object.entries(r.steps ?? {})) steps.set(k, (steps.get(k) ?? 0) + ms);
    await rm(jobDir, { recursive: true, force: true });
  };
  for (let i = 0; i < 5; i++) await job(i); // warm-up: the launcher, profiles, FIFO pool
  steps.clear();
  const l = launcherPid();
  const load = loadavg()[0]!;
  const cpu0 = process.cpuUsage();
  const [, child0] = times('self');
  const [l0, lc0] = l ? times(l) : [0, 0];
  const t0 = performance.now();
  for (let i = 0; i < JOBS; i++) await job(100 + i);
  await runner.prepare!('default', LIMITS); // the last one made ready
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const [, child1] = times('self');
  const [l1, lc1] = l ? times(l) : [0, 0];
  const per = (ms: number): string => (ms / JOBS).toFixed(2).padStart(8);
  console.log(`${JOBS} jobs, each through a sandbox made ready ahead; load ${load.toFixed(2)}`);
  console.log(`${'CPU per job (per sandbox made ready)'.padEnd(44)} ${'ms'.padStart(8)}`);
  console.log(`${'builder (this process)'.padEnd(44)} ${per((cpu.user + cpu.system) / 1000)}`);
  console.log(`${"builder's reaped children (mkfifo)".padEnd(44)} ${per(child1 - child0)}`);
  console.log(`${`launcher itself${l ? '' : ' (none)'}`.padEnd(44)} ${per(l1 - l0)}`);
  console.log(`${"launcher's reaped children (bwrap, sandbox)".padEnd(44)} ${per(lc1 - lc0)}`);
  console.log(`${'wall'.padEnd(44)} ${per(wall)}`);
  for (const [k, ms] of steps) console.log(`${`  step ${k} (wall)`.padEnd(44)} ${per(ms)}`);
} finally {
  await runner.close?.();
  await rm(base, { recursive: true, force: true });
}
