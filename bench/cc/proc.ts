/**
 * Processes for bench:cc: run a command, time it with its CPU, read CPU from /proc, and stop
 * what the bench started even on Ctrl-C.
 */
import { spawn } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { connect } from 'node:net';

export interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

/** Runs a command to completion (asynchronously: the gateway shares this event loop). */
export function run(cmd: string, args: string[], o: RunOptions = {}): Promise<Ran> {
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

/** Runs a command and throws with its output when it fails. */
export async function must(cmd: string, args: string[], o: RunOptions = {}): Promise<Ran> {
  const r = await run(cmd, args, o);
  if (r.code !== 0)
    throw new Error(
      `${cmd} ${args.join(' ')} failed (exit ${r.code}) in ${o.cwd ?? '.'}:\n${(r.stdout + r.stderr).slice(-3000)}`,
    );
  return r;
}

export interface Timed {
  code: number;
  wallMs: number;
  /** CPU of the command and every descendant it waited for (not of servers it talked to). */
  cpuMs: number;
}

/** bash's `time`: wall and CPU (user + sys) of a command, its output into `log`. */
const TIMED_SH = 'log=$1; shift; TIMEFORMAT="%3R %3U %3S"; { time "$@" >"$log" 2>&1; } 2>&1';

export async function timed(
  cmd: string,
  args: string[],
  o: RunOptions & { log?: string } = {},
): Promise<Timed> {
  const t0 = performance.now();
  const r = await run('bash', ['-c', TIMED_SH, 'bash', o.log ?? '/dev/null', cmd, ...args], o);
  const wallMs = performance.now() - t0;
  const m = /([\d.]+) ([\d.]+) ([\d.]+)\s*$/.exec(r.stdout);
  return { code: r.code, wallMs, cpuMs: m ? (Number(m[2]) + Number(m[3])) * 1000 : NaN };
}

let clockTicks = 0;

/** CPU (ms) of processes plus the children they have reaped, from /proc (Linux). */
export async function procCpuMs(pids: number[]): Promise<number> {
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
export async function machineCpuMs(): Promise<number> {
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
export async function groupPids(pgid: number): Promise<number[]> {
  const pids: number[] = [];
  for (const d of await readdir('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const stat = await readFile(`/proc/${d}/stat`, 'utf8').catch(() => null);
    if (stat && Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]) === pgid) pids.push(Number(d));
  }
  return pids;
}

export function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** What must be stopped, even on Ctrl-C. */
export const cleanups = new Set<() => Promise<void>>();
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    console.error(`\n${sig}: stopping what the bench started…`);
    void Promise.allSettled([...cleanups].map((c) => c())).then(() => process.exit(130));
  });
}

/** A build environment without the caller's make state or kiln settings. */
export function baseEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of ['MAKEFLAGS', 'MFLAGS', 'MAKELEVEL', 'MAKEOVERRIDES', 'KILN_CONFIG', 'KILN_CC_VERBOSE'])
    delete env[k];
  return env;
}
