/**
 * Charges `perf record` samples to the farm processes they ran under, for bench:farm-cpu: each
 * sample goes to its process's nearest root (the builder, its sandbox launcher, Redis, …), under
 * the process's name. The parent of a process comes from perf's fork events, or, for processes
 * that already ran when perf attached (the launcher, sandboxes made ready before the build), from
 * /proc at that moment ({@link processTree}): perf's fork events cover only what starts later.
 */
import { readdir, readFile } from 'node:fs/promises';

/** A process whose samples, and those of every process under it, go to `root`. */
export interface Root {
  /** The row its samples are charged to ("builder"). */
  root: string;
  /** What its own samples are called. @default "(itself)" */
  self?: string;
  /** A child still running this process's program (forked, not yet exec'd): [comm, what it is called]. */
  fork?: readonly [string, string];
}

/** A node process's fork before it execs (what a spawn from JavaScript costs in the child). */
export const NODE_FORK = ['node', 'node fork, before exec'] as const;

/**
 * ms of samples per root and per what ran (the root itself, a fork before exec, or the program's
 * name: bwrap, cc1, as, …), from `perf script --show-task-events -F pid,tid,comm`. Samples of no
 * root go to "other".
 */
export function splitSamples(
  script: string,
  roots: ReadonlyMap<number, Root>,
  msPerSample: number,
  parents: ReadonlyMap<number, number> = new Map(),
): Map<string, Map<string, number>> {
  const parent = new Map(parents);
  const out = new Map<string, Map<string, number>>();
  for (const line of script.split('\n')) {
    const fork = /PERF_RECORD_FORK\((\d+):(\d+)\):\((\d+):(\d+)\)/.exec(line);
    if (fork) {
      const [c, ct, p] = [Number(fork[1]), Number(fork[2]), Number(fork[3])];
      if (c === ct && c !== p) parent.set(c, p);
      continue;
    }
    if (line.includes('PERF_RECORD')) continue;
    const m = /^\s*(.+?)\s+(\d+)\/\d+\s*$/.exec(line);
    if (!m) continue;
    const comm = m[1]!;
    const pid = Number(m[2]);
    let near: Root | undefined;
    for (let p: number | undefined = pid; p !== undefined && !near; p = parent.get(p)) near = roots.get(p);
    const what = roots.has(pid)
      ? (near?.self ?? '(itself)')
      : near?.fork && comm === near.fork[0]
        ? near.fork[1]
        : comm;
    const name = near?.root ?? 'other';
    const r = out.get(name) ?? new Map<string, number>();
    out.set(name, r);
    r.set(what, (r.get(what) ?? 0) + msPerSample);
  }
  return out;
}

/** Every process under `pid` now (not `pid` itself), each with its parent, from /proc. */
export async function processTree(pid: number): Promise<Map<number, number>> {
  const ppid = new Map<number, number>();
  for (const d of await readdir('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const stat = await readFile(`/proc/${d}/stat`, 'utf8').catch(() => '');
    const p = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (stat) ppid.set(Number(d), p);
  }
  const under = new Map<number, number>();
  for (const [c, p] of ppid) {
    for (let q: number | undefined = p; q !== undefined && q > 1; q = ppid.get(q))
      if (q === pid) {
        under.set(c, p);
        break;
      }
  }
  return under;
}
