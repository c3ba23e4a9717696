/**
 * Where a cold kiln cc build's CPU goes on one machine: a local `make -jN` of Lua (bench:cc's
 * tree), then the same build through kiln against a fresh local farm (1 builder × N slots, no
 * cache), sampled by `perf record` on the farm's processes and everything they start (the
 * builder agent, Redis, the kiln cc daemon, and this process: the in-process gateway and make).
 * Each sample is charged to the process it ran in, under the farm process that started it
 * (bench/profile/perf-split.ts), so the table shows, per compile, what the builder burns itself,
 * what its children cost (mkfs, mount, …: "node fork" is a child between fork and exec), its
 * sandbox launcher and everything under it (the launcher itself, its forks, bwrap, the job's
 * cc1 and as: folded into "builder", each on its own line), and the same for the client daemon
 * and the gateway. Kernel threads (loop devices, namespace teardown) are not in it.
 *
 *   npm run bench:farm-cpu -- [--jobs N] [--no-local] [--warm] [--cpu-profile DIR]
 *
 * --warm samples a warm build instead (every compile seen before: direct-mode hits): the cold
 * build runs first, unsampled, through a daemon of its own, then the same tree again.
 *
 * --cpu-profile also samples the JavaScript of the builder, the kiln cc daemon and this process
 * (the gateway) with V8's profiler (bench/profile/preload.mjs) and prints, per compile, where each
 * one's busy time goes (bench/profile/summary.ts); the .cpuprofile files stay in DIR for DevTools.
 *
 * The build's "machine CPU" line counts every busy CPU, perf's own sampling included (shown apart:
 * perf attached to a few dozen processes costs seconds), so compare a local build's machine CPU with
 * the kiln build's minus perf's.
 *
 * Needs root (the builder's sandboxes and job disks) and `perf` (linux-perf). Figures move with the
 * machine's load, which is printed beside them: compare before/after back to back.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile, rm, mkdir, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startDevFarm } from '../wiring/dev-farm.ts';
import { debianSource } from './cc/debian-source.ts';
import { WORK, kilnCompiler, kilnEnv, readKilnStats } from './cc/kiln.ts';
import { LUA_STD } from './cc/lua.ts';
import { baseEnv, machineCpuMs, must, procCpuMs, run, timed } from './cc/proc.ts';
import { NODE_FORK, processTree, splitSamples, type Root } from './profile/perf-split.ts';
import { summarize, type Window } from './profile/summary.ts';

const HZ = 999;
const jobsAt = process.argv.indexOf('--jobs');
const JOBS = jobsAt > 0 ? Number(process.argv[jobsAt + 1]) : 2;
const DIR = join(WORK, 'farm-cpu');
const profileAt = process.argv.indexOf('--cpu-profile');
const PROFILE_DIR = profileAt > 0 ? resolve(process.argv[profileAt + 1] ?? '') : undefined;
/** The clock of V8's samples, in µs. */
const monoUs = (): number => Number(process.hrtime.bigint() / 1000n);
const WARM = process.argv.includes('--warm');
const PRELOAD = fileURLToPath(new URL('./profile/preload.mjs', import.meta.url));
/** The launcher's watcher and each sandbox's gate: forks of the launcher until the gate execs bwrap. */
const LAUNCHER_FORK = ['perl', 'launcher fork (watcher, gate)'] as const;
const LEGEND = [
  "(builder: the agent with its sandbox launcher's whole tree folded in, each on its own line: the launcher",
  " itself, its forks before exec, bwrap, the jobs' processes (cc1, as, sh, ...); lines under 0.5 ms/compile not shown)",
].join('\n');

/** A Lua build in a fresh copy of `tree`, or (`again`) in the last one after a clean, as bench:cc's kiln warm. */
async function buildLua(
  tree: string,
  cc: string,
  env: NodeJS.ProcessEnv,
  again = false,
  perfPid?: number,
): Promise<string> {
  const dir = join(DIR, 'tree');
  if (again) await must('make', ['-C', 'src', 'clean'], { cwd: dir, env });
  else {
    await rm(dir, { recursive: true, force: true });
    await must('cp', ['-a', tree, dir]);
  }
  const load = loadavg()[0]!;
  const [m0, p0] = [await machineCpuMs(), perfPid ? await procCpuMs([perfPid]) : 0];
  const args = ['-C', 'src', `-j${JOBS}`, `CC=${cc} ${LUA_STD}`, 'linux'];
  const r = await timed('make', args, { cwd: dir, env, log: join(DIR, 'build.log') });
  const [m1, p1] = [await machineCpuMs(), perfPid ? await procCpuMs([perfPid]) : 0];
  if (r.code !== 0) throw new Error(`make failed: ${await readFile(join(DIR, 'build.log'), 'utf8')}`);
  // perf's own sampling is machine CPU too, and not the build's: shown apart.
  const perf = perfPid ? ` (of which perf itself ${((p1 - p0) / 1000).toFixed(2)} s)` : '';
  return `wall ${(r.wallMs / 1000).toFixed(2)} s, machine CPU ${((m1 - m0) / 1000).toFixed(2)} s${perf}, load ${load.toFixed(2)}`;
}

/** Processes whose environment names `needle` (this bench's kiln cc daemon, by its socket). */
async function pidsWithEnv(needle: string): Promise<number[]> {
  const out: number[] = [];
  for (const d of await readdir('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const cmd = await readFile(`/proc/${d}/cmdline`, 'utf8').catch(() => '');
    const env = await readFile(`/proc/${d}/environ`, 'utf8').catch(() => '');
    if (cmd.includes('cc-daemon') && env.includes(needle)) out.push(Number(d));
  }
  return out;
}

/** The sandbox launcher of builder `pid` (builders/linux/launcher.ts: its Perl child), if it runs. */
async function launcherOf(pid: number, tree: ReadonlyMap<number, number>): Promise<number | undefined> {
  for (const [c, p] of tree)
    if (p === pid && (await readFile(`/proc/${c}/cmdline`, 'utf8').catch(() => '')).includes('launcher.pl'))
      return c;
  return undefined;
}

async function main(): Promise<void> {
  if ((await run('perf', ['--version'])).code !== 0)
    throw new Error('bench:farm-cpu needs perf (apt-get install linux-perf)');
  const { dir: tree } = await debianSource(WORK, 'lua5.4', 'src/Makefile');
  await mkdir(DIR, { recursive: true });
  await mkdir(join(WORK, 'empty-config'), { recursive: true });
  if (!process.argv.includes('--no-local'))
    console.log(`local:     ${await buildLua(tree, 'gcc', baseEnv())}`);
  if (PROFILE_DIR) {
    await rm(PROFILE_DIR, { recursive: true, force: true });
    await mkdir(PROFILE_DIR, { recursive: true });
    process.env.KILN_CPU_PROFILE_DIR = PROFILE_DIR;
    process.env.KILN_BUILDER_NODE_OPTIONS = `--import ${PRELOAD}`;
  }
  const farm = await startDevFarm({ builders: 1, slots: JOBS, port: 0 });
  /** With --warm, the profiles are summarized over the sampled build only (not the daemon's start). */
  let sampled: Window | undefined;
  let gatewayProfile: Awaited<ReturnType<typeof startProfile>> | undefined;
  try {
    const env: NodeJS.ProcessEnv = {
      ...kilnEnv(farm, join(DIR, 'stats.json')),
      KILN_CC_MANIFESTS: join(DIR, 'manifests'),
      ...(PROFILE_DIR ? { NODE_OPTIONS: `--import ${PRELOAD}` } : {}),
    };
    await rm(env.KILN_CC_MANIFESTS!, { recursive: true, force: true });
    for (const f of await readdir(DIR)) if (/^(stats|cold)\.json/.test(f)) await rm(join(DIR, f));
    const k = kilnCompiler();
    if (WARM) {
      const cold: NodeJS.ProcessEnv = {
        ...env,
        KILN_CC_SOCKET: join(WORK, 'cc-cold.sock'),
        KILN_STATS_FILE: join(DIR, 'cold.json'),
      };
      delete cold.NODE_OPTIONS;
      console.log(`kiln cold (not sampled): ${await buildLua(tree, [...k.launcher, k.cc].join(' '), cold)}`);
      for (const d of await pidsWithEnv(cold.KILN_CC_SOCKET!)) process.kill(d, 'SIGTERM');
    }
    gatewayProfile = PROFILE_DIR ? await startProfile() : undefined;
    await run(k.launcher[0] ?? k.cc, [...k.launcher.slice(1), k.cc, '--version'], { env }); // starts the daemon
    const daemons = await pidsWithEnv(env.KILN_CC_SOCKET!);
    const roots = new Map<number, Root>([[process.pid, { root: 'gateway, make', fork: NODE_FORK }]]);
    // The builder's sandboxes are children of its launcher, which (with the sandboxes made ready
    // ahead) runs before perf attaches: perf follows only what forks later, so the processes
    // already under the builder are attached by pid and their parents taken from /proc.
    const parents = new Map<number, number>();
    for (const b of farm.builders) {
      if (!b.pid) continue;
      roots.set(b.pid, { root: 'builder', fork: NODE_FORK });
      const tree = await processTree(b.pid);
      for (const [c, p] of tree) parents.set(c, p);
      const l = await launcherOf(b.pid, tree);
      if (l) roots.set(l, { root: 'builder', self: 'launcher (itself)', fork: LAUNCHER_FORK });
    }
    if (farm.redis.child.pid) roots.set(farm.redis.child.pid, { root: 'redis' });
    for (const d of daemons) roots.set(d, { root: 'kiln cc daemon', fork: NODE_FORK });
    const data = join(DIR, 'perf.data');
    const attach = [...new Set([...roots.keys(), ...parents.keys()])].filter((p) => existsSync(`/proc/${p}`));
    const perf = spawn('perf', ['record', '-F', String(HZ), '-o', data, '-p', attach.join(',')], {
      stdio: 'ignore',
    });
    await new Promise((r) => setTimeout(r, 1500)); // perf attached
    const fromUs = monoUs();
    const line = await buildLua(tree, [...k.launcher, k.cc].join(' '), env, WARM, perf.pid);
    if (WARM) sampled = { fromUs, toUs: monoUs() };
    perf.kill('SIGINT');
    await new Promise((r) => perf.once('exit', r));
    const log = await readFile(join(DIR, 'build.log'), 'utf8');
    const compiles = (log.match(/ -c /g) ?? []).length || 1;
    const hits = WARM ? `, ${(await readKilnStats(env.KILN_STATS_FILE!)).cacheHits} hits` : '';
    console.log(`kiln ${WARM ? 'warm' : 'cold'}: ${line}; ${compiles} compiles${hits}`);
    const s = await run('perf', ['script', '-i', data, '--show-task-events', '-F', 'pid,tid,comm']);
    const t = splitSamples(s.stdout, roots, 1000 / HZ, parents);
    console.log(
      `\n${'CPU sampled (perf, ' + HZ + ' Hz)'.padEnd(40)} ${'total ms'.padStart(9)} ${'ms/compile'.padStart(11)}`,
    );
    console.log(LEGEND);
    const total = (m: Map<string, number>): number => [...m.values()].reduce((a, b) => a + b, 0);
    for (const [root, m] of [...t].sort((a, b) => total(b[1]) - total(a[1]))) {
      console.log(
        `${root.padEnd(40)} ${total(m).toFixed(0).padStart(9)} ${(total(m) / compiles).toFixed(1).padStart(11)}`,
      );
      for (const [what, ms] of [...m].sort((a, b) => b[1] - a[1]))
        if (ms / compiles >= 0.5)
          console.log(
            `  ${what.padEnd(38)} ${ms.toFixed(0).padStart(9)} ${(ms / compiles).toFixed(1).padStart(11)}`,
          );
    }
  } finally {
    await gatewayProfile?.stop(join(PROFILE_DIR!, `gateway-${process.pid}.cpuprofile`));
    if (PROFILE_DIR) for (const d of await pidsWithEnv(join(WORK, 'cc.sock'))) process.kill(d, 'SIGTERM');
    await farm.stop();
  }
  if (PROFILE_DIR) await printProfiles(PROFILE_DIR, sampled);
}

/** This process's profiler (the in-process gateway's JavaScript), from now until `stop`. */
async function startProfile(): Promise<{ stop(file: string): Promise<void> }> {
  const { Session } = await import('node:inspector/promises');
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 250 });
  await session.post('Profiler.start');
  return {
    async stop(file) {
      const { profile } = await session.post('Profiler.stop');
      await writeFile(file, JSON.stringify(profile));
      session.disconnect();
    },
  };
}

/** Waits for the daemon's and the builder's profiles (written as they exit), then summarizes each. */
async function printProfiles(dir: string, w?: Window): Promise<void> {
  const log = await readFile(join(DIR, 'build.log'), 'utf8');
  const compiles = (log.match(/ -c /g) ?? []).length || 1;
  const deadline = Date.now() + 15_000;
  let files: string[] = [];
  while (Date.now() < deadline) {
    files = (await readdir(dir)).filter((f) => f.endsWith('.cpuprofile'));
    if (['gateway', 'builder', 'cc-daemon'].every((r) => files.some((f) => f.startsWith(r)))) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  console.log(`\nJavaScript CPU profiles (V8, per compile; files in ${dir})`);
  for (const f of files.sort()) console.log(`\n${summarize(join(dir, f), compiles, 15, w)}`);
}

await main();
