/**
 * A real C project built seven ways on this machine, side by side in one run, with the same
 * parallelism: Lua 5.4 (the upstream `src/` tree of `apt-get source lua5.4`), `make -jN linux`,
 *
 * - local:       CC="gcc -std=gnu99" (the Makefile's own default compiler)
 * - distcc:      CC="distcc gcc -std=gnu99" to a distccd on 127.0.0.1 with N slots
 * - ccache cold / ccache warm: CC="ccache gcc -std=gnu99" with an empty cache, then again in the
 *                same folder after `make clean` (the warm peer: a local disk cache, direct mode)
 * - kiln cold:   CC="kiln cc gcc -std=gnu99" against a fresh local farm (1 builder, N slots; no
 *                toolchain preset, so the builder uses the host gcc and there is no toolchain to warm)
 * - kiln warm:   the same farm again in the same folder after `make clean` (direct-mode hits)
 * - kiln warm2:  the same farm again on a fresh copy in another folder (action-cache hits)
 *
 * Each build is timed as a whole (`make`: compile, archive and link). Every result must pass the project's own check (`src/lua -v`, a script), and its
 * objects are compared with the local build's. A distcc or kiln figure where nothing was
 * distributed is reported as meaningless and the bench exits 1. When kiln cold misses its target
 * (≤ 1.10× local), one compile is profiled step by step on the same farm.
 *
 *   npm run bench:cc -- [--jobs N] [--repeat R] [--profile | --no-profile]
 *
 * --jobs N     make -jN, distccd --jobs N, builder slots N. @default 2
 * --repeat R   builds per variant; the table shows medians. @default 1
 * --profile    always profile one compile; --no-profile never does.
 *
 * KILN_BENCH_CC: the compiler command of the kiln variants, in place of `gcc` (so another kiln
 * client can be benched; split on white space where the bench runs it itself).
 * @default "<repo>/client/cc/native/kiln-cc gcc" (the native front and its daemon) when it is
 * built, else "node <repo>/client/bin/kiln.js cc gcc"
 *
 * Files: bench/.work/lua5.4/ (the download, reused; the upstream tree extracted once),
 * bench/.work/runs/ (one tree per build, with make.log, kept for inspection until the next run).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { analyzeCompile } from '../client/cc/args.ts';
import { stripGccPreamble } from '../client/cc/remote-layout.ts';
import type { Stats } from '../client/cc/stats.ts';
import { freePort } from '../wiring/free-port.ts';
import { startDevFarm, type DevFarm } from '../wiring/dev-farm.ts';
import type { CreatedJob, JobView } from '../protocol/job.ts';

// ---------------------------------------------------------------------------------------------
// Options

function intFlag(name: string, dflt: number): number {
  const i = process.argv.indexOf(name);
  if (i < 0) return dflt;
  const n = Number(process.argv[i + 1]);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} needs a whole number ≥ 1`);
  return n;
}

const JOBS = intFlag('--jobs', 2);
const REPEAT = intFlag('--repeat', 1);
const PROFILE: 'auto' | 'always' | 'never' = process.argv.includes('--no-profile')
  ? 'never'
  : process.argv.includes('--profile')
    ? 'always'
    : 'auto';
const REPO = fileURLToPath(new URL('..', import.meta.url));
const WORK = join(REPO, 'bench', '.work');
/** ccache is the warm peer when installed (`apt-get install ccache`); its rows are left out otherwise. */
const hasCcache = await new Promise<boolean>((resolve) => {
  const c = spawn('ccache', ['--version'], { stdio: 'ignore' });
  c.on('error', () => resolve(false));
  c.on('close', (code) => resolve(code === 0));
});
const KILN_BIN = join(REPO, 'client', 'bin', 'kiln.js');
/** The native front (built by scripts/setup.mjs) is how make runs kiln on Linux; else the Node client. */
const SHIM = join(REPO, 'client', 'cc', 'native', 'kiln-cc');
const KILN_CC =
  process.env.KILN_BENCH_CC || (existsSync(SHIM) ? `${SHIM} gcc` : `${process.execPath} ${KILN_BIN} cc gcc`);
/** The Makefile's own `CC` is `gcc -std=gnu99`: every variant keeps the flag. */
const STD = '-std=gnu99';
/** Kiln cold must be at most this many times local (issue 5). */
const COLD_TARGET = 1.1;
const WARM_TARGET = 0.1;

/** A build environment without the caller's make state or kiln settings. */
function baseEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of ['MAKEFLAGS', 'MFLAGS', 'MAKELEVEL', 'MAKEOVERRIDES', 'KILN_CONFIG', 'KILN_CC_VERBOSE'])
    delete env[k];
  return env;
}

// ---------------------------------------------------------------------------------------------
// Processes

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion (asynchronously: the gateway shares this event loop). */
function run(cmd: string, args: string[], o: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Ran> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, {
      cwd: o.cwd,
      env: o.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', (e) => resolve({ code: 127, stdout: '', stderr: e.message }));
    child.on('close', (code, sig) =>
      resolve({
        code: code ?? (sig ? 128 : 1),
        stdout: Buffer.concat(out).toString(),
        stderr: Buffer.concat(err).toString(),
      }),
    );
  });
}

interface Timed {
  code: number;
  wallMs: number;
  /** CPU of the command and every descendant it waited for (not of servers it talked to). */
  cpuMs: number;
}

/** bash's `time`: wall and CPU (user + sys) of a command, its output into `log`. */
const TIMED_SH = 'log=$1; shift; TIMEFORMAT="%3R %3U %3S"; { time "$@" >"$log" 2>&1; } 2>&1';

async function timed(
  cmd: string,
  args: string[],
  o: { cwd?: string; env?: NodeJS.ProcessEnv; log?: string } = {},
): Promise<Timed> {
  const t0 = performance.now();
  const r = await run('bash', ['-c', TIMED_SH, 'bash', o.log ?? '/dev/null', cmd, ...args], o);
  const wallMs = performance.now() - t0;
  const m = /([\d.]+) ([\d.]+) ([\d.]+)\s*$/.exec(r.stdout);
  return { code: r.code, wallMs, cpuMs: m ? (Number(m[2]) + Number(m[3])) * 1000 : NaN };
}

let clockTicks = 0;

/** CPU (ms) of processes plus the children they have reaped, from /proc (Linux). */
async function procCpuMs(pids: number[]): Promise<number> {
  if (!clockTicks) clockTicks = Number((await run('getconf', ['CLK_TCK'])).stdout.trim()) || 100;
  let ticks = 0;
  for (const pid of pids) {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
    if (!stat) continue;
    // After "(comm) ": state ppid pgrp … utime(14) stime(15) cutime(16) cstime(17), 1-based.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
  }
  return (ticks * 1000) / clockTicks;
}

/** Busy CPU (ms) of the whole machine since boot, from /proc/stat: every process, ours or not. */
async function machineCpuMs(): Promise<number> {
  if (!clockTicks) await procCpuMs([]);
  const first = (await readFile('/proc/stat', 'utf8'))
    .split('\n')[0]!
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number);
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = first;
  return ((user + nice + system + irq + softirq + steal) * 1000) / clockTicks;
}

/** The processes of a process group. */
async function groupPids(pgid: number): Promise<number[]> {
  const pids: number[] = [];
  for (const d of await readdir('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const stat = await readFile(`/proc/${d}/stat`, 'utf8').catch(() => null);
    if (stat && Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]) === pgid) pids.push(Number(d));
  }
  return pids;
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** What must be stopped, even on Ctrl-C. */
const cleanups = new Set<() => Promise<void>>();
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    console.error(`\n${sig}: stopping what the bench started…`);
    void Promise.allSettled([...cleanups].map((c) => c())).then(() => process.exit(130));
  });
}

// ---------------------------------------------------------------------------------------------
// The source

const isRoot = process.getuid?.() === 0;
/** Debian's own archive entries: deb822 (Debian 12 and later), or one-line (older). */
const DEB822 = '/etc/apt/sources.list.d/debian.sources';
const ONE_LINE = '/etc/apt/sources.list';
const DEB_SRC_FILE = '/etc/apt/sources.list.d/kiln-bench-deb-src';

async function hasDebSrc(): Promise<boolean> {
  const files = [ONE_LINE];
  for (const f of await readdir('/etc/apt/sources.list.d').catch(() => [] as string[]))
    if (f.endsWith('.list') || f.endsWith('.sources')) files.push(join('/etc/apt/sources.list.d', f));
  for (const f of files) {
    const text = await readFile(f, 'utf8').catch(() => '');
    if (/^\s*deb-src\s/m.test(text) || /^Types:.*\bdeb-src\b/m.test(text)) return true;
  }
  return false;
}

/** The command that adds source entries for the same archives as the binary ones. */
function debSrcCommand(): string {
  return existsSync(DEB822)
    ? `sed 's/^Types: deb$/Types: deb-src/' ${DEB822} > ${DEB_SRC_FILE}.sources && apt-get update`
    : `sed -n 's/^deb /deb-src /p' ${ONE_LINE} > ${DEB_SRC_FILE}.list && apt-get update`;
}

async function addDebSrc(): Promise<void> {
  const cmd = debSrcCommand();
  console.log(`apt has no deb-src entries; adding them: ${cmd}`);
  const r = await run('sh', ['-c', cmd]);
  if (r.code !== 0) throw new Error(`adding deb-src entries failed:\n${r.stderr}`);
}

async function findOrig(dir: string): Promise<string | null> {
  const f = (await readdir(dir)).find((n) => /^lua5\.4_[\d.]+\.orig\.tar\.(gz|xz|bz2)$/.test(n));
  return f ? join(dir, f) : null;
}

/** `apt-get source --download-only lua5.4` into `dir`, adding deb-src entries first if root needs them. */
async function download(dir: string): Promise<void> {
  const get = (): Promise<Ran> => run('apt-get', ['source', '--download-only', 'lua5.4'], { cwd: dir });
  let r = await get();
  if (r.code === 0) return;
  if (r.code === 127)
    throw new Error(`apt-get is not available: put lua5.4_<version>.orig.tar.gz into ${dir} and run again`);
  if (!(await hasDebSrc())) {
    if (!isRoot)
      throw new Error(
        `apt has no deb-src entries, so \`apt-get source lua5.4\` cannot work. As root, run:\n` +
          `  sudo sh -c "${debSrcCommand()}"\n` +
          `(or put lua5.4_<version>.orig.tar.gz into ${dir}) and run the bench again.`,
      );
    await addDebSrc();
  } else if (isRoot) {
    await run('apt-get', ['update']); // deb-src entries that were never fetched
  }
  r = await get();
  if (r.code !== 0) throw new Error(`apt-get source lua5.4 failed:\n${r.stderr}`);
}

/** The upstream Lua tree (downloaded and extracted once, then reused). */
async function luaSource(): Promise<{ dir: string; version: string }> {
  const dl = join(WORK, 'lua5.4');
  await mkdir(dl, { recursive: true });
  let orig = await findOrig(dl);
  if (!orig) {
    console.log('fetching the Lua 5.4 source: apt-get source --download-only lua5.4');
    await download(dl);
    orig = await findOrig(dl);
    if (!orig) throw new Error(`apt-get source lua5.4 left no lua5.4_*.orig.tar.* in ${dl}`);
  }
  const version = /_([\d.]+)\.orig/.exec(basename(orig))![1]!;
  const upstream = join(dl, `upstream-${version}`);
  if (!existsSync(join(upstream, '.extracted'))) {
    await rm(upstream, { recursive: true, force: true });
    await mkdir(upstream, { recursive: true });
    const x = await run('tar', ['-xf', orig, '-C', upstream]);
    if (x.code !== 0) throw new Error(`cannot extract ${orig}: ${x.stderr}`);
    await writeFile(join(upstream, '.extracted'), `${basename(orig)}\n`);
  }
  for (const d of await readdir(upstream, { withFileTypes: true }))
    if (d.isDirectory() && existsSync(join(upstream, d.name, 'src', 'Makefile')))
      return { dir: join(upstream, d.name), version };
  throw new Error(`${orig} holds no upstream tree with src/Makefile`);
}

// ---------------------------------------------------------------------------------------------
// One build

type Variant = 'local' | 'distcc' | 'ccache cold' | 'ccache warm' | 'kiln cold' | 'kiln warm' | 'kiln warm2';
const VARIANTS: readonly Variant[] = [
  'local',
  'distcc',
  'ccache cold',
  'ccache warm',
  'kiln cold',
  'kiln warm',
  'kiln warm2',
];

interface Build {
  variant: Variant;
  rep: number;
  dir: string;
  wallMs: number;
  cpuMs: number;
  /** CPU of the servers: distccd, or the farm's agents, redis and gateway (not the sandboxed jobs). */
  serverCpuMs?: number;
  /** Busy CPU of the whole machine during the build (anything else running included). */
  machineCpuMs: number;
  load: number;
  /** distcc: jobs distccd completed. kiln: compiles the farm served (hits + misses). */
  remote?: number;
  hits?: number;
  local?: number;
  fallbacks?: number;
  detail?: string;
  /** "33/33": objects byte-identical to the local build's. */
  same?: string;
  check: string;
}

/** A fresh copy of the upstream tree. */
async function freshTree(upstream: string, name: string): Promise<string> {
  const dir = join(WORK, 'runs', name);
  await rm(dir, { recursive: true, force: true });
  await mkdir(join(WORK, 'runs'), { recursive: true });
  const r = await run('cp', ['-a', upstream, dir]);
  if (r.code !== 0) throw new Error(`cp failed: ${r.stderr}`);
  return dir;
}

async function make(
  dir: string,
  cc: string,
  env: NodeJS.ProcessEnv,
): Promise<Timed & { machineCpuMs: number }> {
  const log = join(dir, 'make.log');
  const m0 = await machineCpuMs();
  const t = await timed('make', ['-C', 'src', `-j${JOBS}`, `CC=${cc} ${STD}`, 'linux'], {
    cwd: dir,
    env,
    log,
  });
  if (t.code !== 0) {
    const text = await readFile(log, 'utf8').catch(() => '');
    throw new Error(`make failed (exit ${t.code}) in ${dir}:\n${text.slice(-3000)}`);
  }
  return { ...t, machineCpuMs: (await machineCpuMs()) - m0 };
}

/** Exercises the interpreter (strings, tables, coroutines, integers, utf8, pack, errors). */
const SCRIPT = `local t = {} for i = 1, 5000 do t[i] = (i * 7919) % 10007 end table.sort(t)
local s = 0 for i, v in ipairs(t) do s = s + i * v end
local co = coroutine.wrap(function(a) local b = coroutine.yield(a + 1) return b * 2 end)
local ok, e = pcall(error, {code = 7})
print(s, co(1), co(20), string.format('%.6f', math.sin(1)), ('kiln'):rep(3):upper():gsub('K', 'k'),
  ok, e.code, utf8.char(955, 8364), #string.pack('i4d', 7, 1.5), math.type(7 // 2), 1 << 62, 7 // 0.0)`;

/** The project's own check: `lua -v`, `print(1+1)`, and a script whose output must match the local build's. */
async function check(dir: string): Promise<{ ok: boolean; text: string; script: string }> {
  const lua = join(dir, 'src', 'lua');
  const v = await run(lua, ['-v']);
  const two = await run(lua, ['-e', 'print(1+1)']);
  const sc = await run(lua, ['-e', SCRIPT]);
  const problems: string[] = [];
  if (v.code !== 0 || !/^Lua 5\.4/.test(v.stdout)) problems.push(`lua -v: ${v.stdout}${v.stderr}`.trim());
  if (two.code !== 0 || two.stdout.trim() !== '2')
    problems.push(`print(1+1): ${two.stdout}${two.stderr}`.trim());
  if (sc.code !== 0) problems.push(`script: ${sc.stderr.trim()}`);
  const luac = await run(join(dir, 'src', 'luac'), ['-v']);
  if (luac.code !== 0) problems.push(`luac -v: ${luac.stderr.trim()}`);
  return { ok: problems.length === 0, text: problems.join('; ') || 'ok', script: sc.stdout };
}

async function sameObjects(dir: string, ref: string): Promise<string> {
  const objs = (await readdir(join(ref, 'src'))).filter((f) => f.endsWith('.o'));
  let same = 0;
  for (const o of objs) {
    const [a, b] = await Promise.all([
      readFile(join(ref, 'src', o)),
      readFile(join(dir, 'src', o)).catch(() => null),
    ]);
    if (b && a.equals(b)) same++;
  }
  return `${same}/${objs.length}`;
}

// ---------------------------------------------------------------------------------------------
// distcc

interface Distccd {
  hosts: string;
  /** CPU so far of distccd and its workers. */
  cpuMs(): Promise<number>;
  log: string;
  clientDir: string;
  stop(): Promise<void>;
}

async function startDistccd(): Promise<Distccd> {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-bench-distcc-'));
  await chmod(dir, 0o777); // distccd opens its log after dropping to --user
  const clientDir = join(dir, 'client');
  await mkdir(clientDir);
  const log = join(dir, 'distccd.log');
  const port = await freePort();
  const args = ['--daemon', '--no-detach', '--listen', '127.0.0.1', '--port', String(port)];
  args.push('--allow', '127.0.0.1', '--jobs', String(JOBS), '--log-file', log, '--log-level', 'info');
  if (isRoot) args.push('--user', 'nobody');
  // Its own process group: distccd preforks workers, and stop() ends them all.
  const child = spawn('distccd', args, { stdio: 'ignore', detached: true });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  let spawnError: Error | null = null;
  child.once('error', (e) => (spawnError = e));
  const stop = async (): Promise<void> => {
    cleanups.delete(stop);
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {
        // already gone
      }
      const t = setTimeout(() => {
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          // already gone
        }
      }, 5000);
      await exited;
      clearTimeout(t);
    }
    await rm(dir, { recursive: true, force: true });
  };
  cleanups.add(stop);
  for (let i = 0; i < 100; i++) {
    if (spawnError || child.exitCode !== null) break;
    if (await canConnect(port)) {
      const cpuMs = async (): Promise<number> => procCpuMs(await groupPids(child.pid!));
      return { hosts: `127.0.0.1:${port}/${JOBS}`, cpuMs, log, clientDir, stop };
    }
    await sleep(50);
  }
  const text = await readFile(log, 'utf8').catch(() => '');
  await stop();
  throw new Error(`distccd did not start (${spawnError ?? `exit ${child.exitCode}`}): ${text.slice(-1000)}`);
}

async function distccBuild(upstream: string, rep: number): Promise<Build> {
  const dir = await freshTree(upstream, `distcc-${rep}`);
  const d = await startDistccd();
  try {
    const env: NodeJS.ProcessEnv = { ...baseEnv(), DISTCC_HOSTS: d.hosts, DISTCC_DIR: d.clientDir };
    delete env.DISTCC_VERBOSE;
    const load = loadavg()[0]!;
    const cpu0 = await d.cpuMs();
    const t = await make(dir, 'distcc gcc', env);
    await sleep(200); // the log's last lines
    const serverCpuMs = (await d.cpuMs()) - cpu0;
    const log = await readFile(d.log, 'utf8').catch(() => '');
    const makeLog = await readFile(join(dir, 'make.log'), 'utf8');
    const ok = log.match(/COMPILE_OK/g)?.length ?? 0;
    const bad = log.match(/COMPILE_ERROR|FAILED/g)?.length ?? 0;
    const fellBack = makeLog.match(/failed to distribute|running locally instead/g)?.length ?? 0;
    return {
      variant: 'distcc',
      rep,
      dir,
      wallMs: t.wallMs,
      cpuMs: t.cpuMs,
      serverCpuMs,
      machineCpuMs: t.machineCpuMs,
      load,
      remote: ok,
      fallbacks: fellBack,
      detail: bad ? `${bad} failed on distccd` : undefined,
      check: '',
    };
  } finally {
    await d.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// ccache: the warm peer (its local disk cache, direct mode on, as Debian ships it)

async function ccacheBuild(
  upstream: string,
  variant: Variant,
  rep: number,
  sameFolderAs?: string,
): Promise<Build> {
  const dir = sameFolderAs ? await cleaned(sameFolderAs) : await freshTree(upstream, `ccache-${rep}`);
  const ccacheDir = join(WORK, `ccache-${rep}`);
  if (!sameFolderAs) await rm(ccacheDir, { recursive: true, force: true });
  const env = { ...baseEnv(), CCACHE_DIR: ccacheDir };
  const load = loadavg()[0]!;
  const t = await make(dir, 'ccache gcc', env);
  const st = await run('ccache', ['--print-stats'], { env });
  const num = (k: string): number => Number(new RegExp(`^${k}\\t(\\d+)`, 'm').exec(st.stdout)?.[1] ?? 0);
  const hits = num('direct_cache_hit') + num('preprocessed_cache_hit');
  return {
    variant,
    rep,
    dir,
    wallMs: t.wallMs,
    cpuMs: t.cpuMs,
    machineCpuMs: t.machineCpuMs,
    load,
    hits,
    detail: `ccache: ${num('direct_cache_hit')} direct + ${num('preprocessed_cache_hit')} preprocessed hits, ${num('cache_miss')} misses so far`,
    check: '',
  };
}

// ---------------------------------------------------------------------------------------------
// kiln

type KilnStats = Stats;

function kilnEnv(farm: DevFarm, statsFile: string): NodeJS.ProcessEnv {
  return {
    ...baseEnv(),
    KILN_GATEWAY: farm.url,
    KILN_TOKEN: farm.token,
    KILN_STATS_FILE: statsFile,
    XDG_CONFIG_HOME: join(WORK, 'empty-config'), // no kiln.toml: no preset, the builders' host gcc
    KILN_CC_SOCKET: join(WORK, 'cc.sock'), // this bench's own kiln cc daemon, gone 20 s after the last build
    KILN_CC_DAEMON_IDLE_MS: '20000',
  };
}

async function readKilnStats(statsFile: string): Promise<KilnStats> {
  const r = await run(process.execPath, [KILN_BIN, 'stats', '--json'], {
    env: { ...process.env, KILN_STATS_FILE: statsFile },
  });
  if (r.code !== 0) throw new Error(`kiln stats failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as KilnStats;
}

const reasons = (r: Record<string, number>): string =>
  Object.entries(r)
    .map(([k, n]) => `${k} ×${n}`)
    .join(', ');

/** The tree of an earlier build, cleaned (`make clean`, untimed): a warm build in the same folder. */
async function cleaned(dir: string): Promise<string> {
  const r = await run('make', ['-C', 'src', 'clean'], { cwd: dir });
  if (r.code !== 0) throw new Error(`make clean failed in ${dir}: ${r.stderr}`);
  return dir;
}

async function kilnBuild(
  upstream: string,
  farm: DevFarm,
  variant: Variant,
  rep: number,
  sameFolderAs?: string,
): Promise<Build> {
  const dir = sameFolderAs
    ? await cleaned(sameFolderAs)
    : await freshTree(upstream, `${variant.replace(' ', '-')}-${rep}`);
  const statsFile = join(dir, `kiln-stats-${variant.replace(' ', '-')}.json`);
  await mkdir(join(WORK, 'empty-config'), { recursive: true });
  const load = loadavg()[0]!;
  const farmPids = [...farm.builders.map((b) => b.pid), farm.redis.child.pid].filter(
    (p): p is number => p !== undefined,
  );
  const cpu0 =
    (await procCpuMs(farmPids)) + process.cpuUsage().user / 1000 + process.cpuUsage().system / 1000;
  const t = await make(dir, KILN_CC, {
    ...kilnEnv(farm, statsFile),
    KILN_CC_MANIFESTS: join(WORK, `manifests-${rep}`),
  });
  const cpu1 =
    (await procCpuMs(farmPids)) + process.cpuUsage().user / 1000 + process.cpuUsage().system / 1000;
  const s = await readKilnStats(statsFile);
  const why = [
    Object.keys(s.fallbackReasons).length ? `fallbacks: ${reasons(s.fallbackReasons)}` : '',
    Object.keys(s.localReasons).length ? `local: ${reasons(s.localReasons)}` : '',
  ]
    .filter(Boolean)
    .join('; ');
  return {
    variant,
    rep,
    dir,
    wallMs: t.wallMs,
    cpuMs: t.cpuMs,
    serverCpuMs: cpu1 - cpu0,
    machineCpuMs: t.machineCpuMs,
    load,
    remote: s.remote,
    hits: s.cacheHits,
    local: s.local,
    fallbacks: s.fallbacks,
    detail: why || undefined,
    check: '',
  };
}

// ---------------------------------------------------------------------------------------------
// Profile of one compile

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

const PROFILE_REPS = 5;
/** A mid-sized translation unit of Lua. */
const PROFILE_FILE = 'lapi.c';
const TSX_ONLY = "const { register } = await import('tsx/esm/api'); register();";

async function profileCompile(farm: DevFarm, tree: string): Promise<void> {
  const src = join(tree, 'src');
  const scratch = await mkdtemp(join(tmpdir(), 'kiln-bench-profile-'));
  try {
    const flags = [STD, '-O2', '-Wall', '-Wextra', '-DLUA_COMPAT_5_3', '-DLUA_USE_LINUX'];
    const argv = ['gcc', ...flags, '-c', '-o', join(scratch, 'x.o'), PROFILE_FILE];
    const plan = analyzeCompile(argv, { cwd: src });
    if (!plan.distributable) throw new Error(`profile: ${PROFILE_FILE} is not distributable: ${plan.reason}`);
    const pre = await run(plan.preprocessArgv[0]!, plan.preprocessArgv.slice(1), { cwd: src });
    if (pre.code !== 0) throw new Error(`profile: gcc -E failed: ${pre.stderr}`);
    // The text as kiln cc sends it (client/cc/remote-layout.ts), at the source's name.
    const text = Buffer.from(stripGccPreamble(Buffer.from(pre.stdout).toString('latin1')), 'latin1');
    await writeFile(join(scratch, plan.sourceArg), text);
    const env = kilnEnv(farm, join(scratch, 'stats.json'));
    const [kilnCmd, ...kilnArgs] = KILN_CC.split(/\s+/);
    const rows: [string, number, number, string][] = [];
    const step = async (label: string, fn: (i: number) => Promise<Timed>, note = ''): Promise<number> => {
      const w: number[] = [];
      const c: number[] = [];
      for (let i = 0; i < PROFILE_REPS; i++) {
        const t = await fn(i);
        if (t.code !== 0) throw new Error(`profile: ${label} failed (exit ${t.code})`);
        w.push(t.wallMs);
        c.push(t.cpuMs);
      }
      rows.push([label, median(w), median(c), note]);
      return median(w);
    };
    const load = loadavg()[0]!;
    await step('node -e 0 (bare Node start)', () => timed(process.execPath, ['-e', '0']));
    await step('gcc --version', () => timed('gcc', ['--version']));
    await step(
      'node + tsx register, no kiln code',
      () => timed(process.execPath, ['--input-type=module', '-e', TSX_ONLY], { cwd: REPO }),
      'what running TypeScript unbuilt costs',
    );
    await step(
      'kiln cc gcc --version (client start, runs locally)',
      () => timed(kilnCmd!, [...kilnArgs, '--version'], { env }),
      'process start + tsx + kiln cc modules',
    );
    await step(
      `gcc -E ${PROFILE_FILE} (local preprocess)`,
      () => timed(plan.preprocessArgv[0]!, plan.preprocessArgv.slice(1), { cwd: src }),
      `${(pre.stdout.length / 1024).toFixed(0)} KiB out`,
    );
    await step(`gcc -c ${PROFILE_FILE} from the text (the remote step, run locally)`, () =>
      timed(plan.compileArgv[0]!, plan.compileArgv.slice(1), { cwd: scratch }),
    );
    await step(`gcc -c ${PROFILE_FILE} (whole local compile)`, () =>
      timed(argv[0]!, argv.slice(1), { cwd: src }),
    );

    // The farm's share: the same request kiln cc sends, from this process.
    const body = (nonce: string, cache: boolean): string =>
      JSON.stringify({
        argv: [basename(plan.compileArgv[0]!), ...plan.compileArgv.slice(1), `-DKILN_BENCH_NONCE=${nonce}`],
        inline: [{ path: plan.sourceArg, data: text.toString('base64') }],
        env: { LC_ALL: 'C' },
        outputs: ['out.o'],
        cache,
        inlineResult: true,
      });
    const headers = { Authorization: `Bearer ${farm.token}`, 'Content-Type': 'application/json' };
    const phases: { queue: number[]; run: number[] } = { queue: [], run: [] };
    const post = async (b: string, track: boolean): Promise<Timed> => {
      const t0 = performance.now();
      const res = await fetch(`${farm.url}/api/v1/jobs?wait=60`, { method: 'POST', headers, body: b });
      const j = (await res.json()) as CreatedJob;
      const wallMs = performance.now() - t0;
      const job: JobView = j.job;
      const ok =
        (res.status === 200 || res.status === 201) && (job.state === 'succeeded' || job.state === 'cached');
      if (track && job.startedAt && job.finishedAt) {
        phases.queue.push(Date.parse(job.startedAt) - Date.parse(job.createdAt));
        phases.run.push(Date.parse(job.finishedAt) - Date.parse(job.startedAt));
      }
      return { code: ok ? 0 : 1, wallMs, cpuMs: NaN };
    };
    const tag = randomBytes(4).toString('hex');
    const rt = await step('farm round trip, miss (POST /jobs?wait, inline)', (i) =>
      post(body(`${tag}${i}`, false), true),
    );
    await post(body(`${tag}hit`, true), false);
    await step('farm round trip, action-cache hit', () => post(body(`${tag}hit`, true), false));
    const q = median(phases.queue);
    const r = median(phases.run);
    rows.push(['  of the miss: created → started (placement, queue)', q, NaN, 'farm timestamps']);
    rows.push(['  of the miss: started → finished (inputs, sandbox, gcc)', r, NaN, 'farm timestamps']);
    rows.push(['  of the miss: the rest (HTTP, JSON, base64, wake-up)', rt - q - r, NaN, '']);

    // The whole thing, as make runs it.
    // A -D does not change the action key (the farm compiles preprocessed text): a miss needs new
    // text, so each miss compiles a copy under a new name (the line markers carry it).
    const cc = async (nonce: string): Promise<Timed> => {
      const copy = `kbench-${nonce}.c`;
      if (!existsSync(join(scratch, copy))) await copyFile(join(src, PROFILE_FILE), join(scratch, copy));
      const args = [...flags, `-I${src}`, '-c', '-o', join(scratch, 'y.o'), copy];
      return timed(kilnCmd!, [...kilnArgs, ...args], { cwd: scratch, env });
    };
    await step('kiln cc gcc -c (end to end, miss)', (i) => cc(`${tag}cc${i}`), 'CPU: client side only');
    await cc(`${tag}cchit`);
    await step('kiln cc gcc -c (end to end, hit)', () => cc(`${tag}cchit`), 'CPU: client side only');
    const s = await readKilnStats(join(scratch, 'stats.json'));

    console.log(
      `\nProfile of one compile (${PROFILE_FILE}), median of ${PROFILE_REPS}, load ${load.toFixed(2)} before; ` +
        `profile's kiln cc: remote ${s.remote}, hits ${s.cacheHits}, fallbacks ${s.fallbacks}`,
    );
    console.log(`${'step'.padEnd(58)} ${'wall ms'.padStart(8)} ${'CPU ms'.padStart(8)}  note`);
    for (const [label, w, c, note] of rows)
      console.log(
        `${label.padEnd(58)} ${w.toFixed(1).padStart(8)} ${(Number.isNaN(c) ? '-' : c.toFixed(0)).padStart(8)}  ${note}`,
      );
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Main

const secs = (ms: number): string => (ms / 1000).toFixed(2);

function line(b: Build, localMs: number | null): string {
  const ratio = localMs ? `${(b.wallMs / localMs).toFixed(2)}×` : '-';
  const counts = [
    b.remote !== undefined ? `remote ${b.remote}` : '',
    b.hits !== undefined ? `hits ${b.hits}` : '',
    b.local !== undefined ? `local ${b.local}` : '',
    b.fallbacks !== undefined ? `fallbacks ${b.fallbacks}` : '',
  ]
    .filter(Boolean)
    .join(', ');
  return (
    `${b.variant.padEnd(10)} ${secs(b.wallMs).padStart(7)} s ${ratio.padStart(7)}  cpu ${secs(b.cpuMs).padStart(6)} s` +
    ` + server ${b.serverCpuMs === undefined ? '-' : secs(b.serverCpuMs)} s, machine ${secs(b.machineCpuMs)} s` +
    `  load ${b.load.toFixed(2).padStart(5)}  objs=local ${(b.same ?? '-').padStart(5)}  check ${b.check}` +
    (counts ? `  [${counts}]` : '') +
    (b.detail ? `  (${b.detail})` : '')
  );
}

async function main(): Promise<void> {
  const { dir: upstream, version } = await luaSource();
  const gcc = (await run('gcc', ['--version'])).stdout.split('\n')[0];
  const distcc = (await run('distcc', ['--version'])).stdout.split('\n')[0];
  const ccache = hasCcache ? (await run('ccache', ['--version'])).stdout.split('\n')[0] : 'no ccache';
  console.log(
    `kiln bench/build-vs-distcc: Lua ${version} (upstream src/, make -j${JOBS} linux), ${REPEAT} build(s) per variant`,
  );
  console.log(
    `machine: ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), load ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}; ${gcc}; ${distcc}; ${ccache}; Node ${process.version}`,
  );
  console.log(`kiln CC: ${KILN_CC} ${STD}  (farm: 1 builder × ${JOBS} slots, no toolchain preset)\n`);

  // Warm-up, untimed: page cache for gcc and the tree, tsx's transform cache for the kiln client.
  const warmup = await freshTree(upstream, 'warmup');
  await make(warmup, 'gcc', baseEnv());
  const [kilnCmd, ...kilnArgs] = KILN_CC.split(/\s+/);
  await run(kilnCmd!, [...kilnArgs, '--version'], {
    env: { ...baseEnv(), KILN_STATS_FILE: join(warmup, 'kiln-stats.json') },
  });

  const builds: Build[] = [];
  const problems: string[] = [];
  let localScript = '';
  const record = async (b: Build, ref: Build | undefined): Promise<void> => {
    const c = await check(b.dir);
    if (b.variant === 'local' && !localScript) localScript = c.script;
    b.check = !c.ok ? `FAILED: ${c.text}` : c.script !== localScript ? 'FAILED: script output differs' : 'ok';
    if (!b.check.startsWith('ok'))
      problems.push(`${b.variant} #${b.rep}: the built lua failed its check: ${b.check}`);
    if (ref && ref !== b) b.same = await sameObjects(b.dir, ref.dir);
    builds.push(b);
    const localMs = builds.find((x) => x.variant === 'local' && x.rep === b.rep)?.wallMs ?? null;
    console.log(`[${b.rep}/${REPEAT}] ${line(b, localMs)}`);
  };

  for (let rep = 1; rep <= REPEAT; rep++) {
    const dir = await freshTree(upstream, `local-${rep}`);
    const load = loadavg()[0]!;
    const t = await make(dir, 'gcc', baseEnv());
    const local: Build = {
      variant: 'local',
      rep,
      dir,
      wallMs: t.wallMs,
      cpuMs: t.cpuMs,
      machineCpuMs: t.machineCpuMs,
      load,
      check: '',
    };
    await record(local, undefined);

    const d = await distccBuild(upstream, rep);
    await record(d, local);
    if (!d.remote)
      problems.push(
        `distcc #${rep}: distccd completed no compile (client fallbacks ${d.fallbacks}): the distcc figure is a local build, meaningless`,
      );
    else if (d.fallbacks) problems.push(`distcc #${rep}: ${d.fallbacks} compiles fell back to local`);

    if (hasCcache) {
      const cc = await ccacheBuild(upstream, 'ccache cold', rep);
      await record(cc, local);
      const cw = await ccacheBuild(upstream, 'ccache warm', rep, cc.dir);
      await record(cw, local);
    }

    const farm = await startDevFarm({ builders: 1, slots: JOBS, port: 0 });
    cleanups.add(farm.stop);
    try {
      const cold = await kilnBuild(upstream, farm, 'kiln cold', rep);
      await record(cold, local);
      if (!cold.remote)
        problems.push(
          `kiln cold #${rep}: NO compile ran on the farm (${cold.detail ?? 'no stats recorded'}): the figure is a local build, meaningless`,
        );
      else if (cold.fallbacks)
        problems.push(`kiln cold #${rep}: ${cold.fallbacks} fallbacks (${cold.detail})`);
      // Warm in the same folder (direct mode: no preprocessing), then in another one.
      const warm = await kilnBuild(upstream, farm, 'kiln warm', rep, cold.dir);
      const coldRemote = cold.remote ?? 0;
      const warm2 = await kilnBuild(upstream, farm, 'kiln warm2', rep);
      for (const w of [warm, warm2]) {
        await record(w, local);
        if (!w.hits) problems.push(`${w.variant} #${rep}: no action-cache hit (${w.detail ?? ''})`);
        else if (w.hits < coldRemote)
          problems.push(`${w.variant} #${rep}: ${w.hits} hits for ${coldRemote} compiles served cold`);
      }
      const localMed = median(builds.filter((b) => b.variant === 'local').map((b) => b.wallMs));
      const slow = median(builds.filter((b) => b.variant === 'kiln cold').map((b) => b.wallMs)) / localMed;
      if (rep === REPEAT && (PROFILE === 'always' || (PROFILE === 'auto' && slow > COLD_TARGET)))
        await profileCompile(farm, cold.dir);
    } finally {
      cleanups.delete(farm.stop);
      await farm.stop();
    }
  }

  // The summary: medians per variant.
  const by = (v: Variant): Build[] => builds.filter((b) => b.variant === v);
  const localMed = median(by('local').map((b) => b.wallMs));
  console.log(
    `\nSummary: median of ${REPEAT} per variant, make -j${JOBS}, ${cpus().length} CPUs; ` +
      `load now ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
  );
  console.log(
    `${'variant'.padEnd(10)} ${'wall s'.padStart(7)} ${'× local'.padStart(8)} ${'cpu s'.padStart(7)} ${'server'.padStart(7)} ${'machine'.padStart(7)}  ${'remote'.padStart(6)} ${'hits'.padStart(5)} ${'local'.padStart(5)} ${'fallb.'.padStart(6)}  load before`,
  );
  const med: Partial<Record<Variant, number>> = {};
  for (const v of VARIANTS) {
    const bs = by(v);
    if (!bs.length) continue;
    const w = median(bs.map((b) => b.wallMs));
    med[v] = w;
    const n = (f: (b: Build) => number | undefined): string => {
      const xs = bs.map(f).filter((x): x is number => x !== undefined);
      if (!xs.length) return '-';
      const lo = Math.min(...xs);
      const hi = Math.max(...xs);
      return lo === hi ? String(lo) : `${lo}-${hi}`;
    };
    console.log(
      `${v.padEnd(10)} ${secs(w).padStart(7)} ${`${(w / localMed).toFixed(2)}×`.padStart(8)} ` +
        `${secs(median(bs.map((b) => b.cpuMs))).padStart(7)} ` +
        `${(bs[0]!.serverCpuMs === undefined ? '-' : secs(median(bs.map((b) => b.serverCpuMs ?? 0)))).padStart(7)} ` +
        `${secs(median(bs.map((b) => b.machineCpuMs))).padStart(7)}  ` +
        `${n((b) => b.remote).padStart(6)} ` +
        `${n((b) => b.hits).padStart(5)} ${n((b) => b.local).padStart(5)} ${n((b) => b.fallbacks).padStart(6)}  ` +
        bs.map((b) => b.load.toFixed(2)).join(' '),
    );
  }
  console.log(
    'CPU seconds. cpu: make and its children (the kiln and distcc clients included). server: distccd, or the\n' +
      "farm's builder agents, redis and in-process gateway (NOT the sandboxed compilers: their CPU does not reach\n" +
      "the agent's rusage). machine: every busy CPU of this machine during the build, other work included.",
  );
  if (med.local && med['kiln cold'] && med.distcc && med['kiln warm'] && med['kiln warm2']) {
    const cold = med['kiln cold'] / med.local;
    const warm = Math.max(med['kiln warm'], med['kiln warm2']) / med.local;
    const vsDistcc = med['kiln cold'] / med.distcc;
    const mark = (ok: boolean): string => (ok ? 'met' : 'MISSED');
    console.log(
      `targets: kiln cold ${cold.toFixed(2)}× local (≤ ${COLD_TARGET}: ${mark(cold <= COLD_TARGET)}), ` +
        `${vsDistcc.toFixed(2)}× distcc (≤ 1: ${mark(vsDistcc <= 1)}); ` +
        `kiln warm (worse of same/other folder) ${warm.toFixed(2)}× local (≤ ${WARM_TARGET}: ${mark(warm <= WARM_TARGET)})`,
    );
  }
  if (problems.length) {
    console.log('\nPROBLEMS (figures above that are not what they claim):');
    for (const p of problems) console.log(`  - ${p}`);
    process.exitCode = 1;
  }
}

try {
  await main();
} catch (err) {
  await Promise.allSettled([...cleanups].map((c) => c()));
  console.error((err as Error).stack ?? String(err));
  process.exitCode = 1;
}
