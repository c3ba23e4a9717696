/**
 * The fallback "group" when cgroups cannot be used: a process and its descendants, found by
 * walking /proc. No limits are enforced. It is enough to stop a bwrap sandbox, because everything
 * a job starts stays below bwrap's pid-namespace init, and that init dies with bwrap.
 */
import { readdir, readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { JobGroup } from './cgroup-group.ts';

interface ProcInfo {
  ppid: number;
  /** Start time in clock ticks since boot: tells a process from a later one with the same pid. */
  start: string;
}

/** Every live (non-zombie) process, read from /proc/<pid>/stat. */
async function processes(proc: string): Promise<Map<number, ProcInfo>> {
  const map = new Map<number, ProcInfo>();
  const names = await readdir(proc).catch(() => [] as string[]);
  await Promise.all(
    names
      .filter((n) => /^\d+$/.test(n))
      .map(async (n) => {
        const stat = await readFile(`${proc}/${n}/stat`, 'utf8').catch(() => '');
        // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so cut at the last ')'.
        const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        if (f.length > 19 && f[0] !== 'Z') map.set(Number(n), { ppid: Number(f[1]), start: f[19] as string });
      }),
  );
  return map;
}

/** The live descendants of `roots` (and the roots themselves, when alive). */
function descendants(all: Map<number, ProcInfo>, roots: Iterable<number>): Map<number, ProcInfo> {
  const children = new Map<number, number[]>();
  for (const [pid, p] of all) children.set(p.ppid, [...(children.get(p.ppid) ?? []), pid]);
  const out = new Map<number, ProcInfo>();
  const todo = [...roots];
  while (todo.length > 0) {
    const pid = todo.pop() as number;
    const info = all.get(pid);
    if (info && !out.has(pid)) out.set(pid, info);
    todo.push(...(children.get(pid) ?? []).filter((c) => !out.has(c)));
  }
  return out;
}

/** `root` and all its live (non-zombie) descendants. */
export async function processTree(root: number, proc = '/proc'): Promise<number[]> {
  return [...descendants(await processes(proc), [root]).keys()];
}

function kill(pid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false; // already gone
  }
}

/**
 * A {@link JobGroup} over the process tree of the first process added. Every process once seen
 * stays tracked (by pid and start time), so orphans are not lost when their parent dies.
 */
export function processTreeGroup(proc = '/proc'): JobGroup {
  let added = false;
  const seen = new Map<number, string>();
  const pids = async (): Promise<number[]> => {
    const all = await processes(proc);
    for (const [pid, start] of seen) if (all.get(pid)?.start !== start) seen.delete(pid);
    for (const [pid, p] of descendants(all, seen.keys())) seen.set(pid, p.start);
    return [...seen.keys()];
  };
  const killAll = async (): Promise<void> => {
    for (const pid of await pids()) kill(pid, 'SIGKILL');
  };
  return {
    mode: 'none',
    async add(pid) {
      if (added) return;
      added = true;
      const start = (await processes(proc)).get(pid)?.start;
      if (start !== undefined) seen.set(pid, start);
    },
    pids,
    // No limits without a cgroup (the manager said so once).
    limit: async () => {},
    async signal(sig, except = new Set()) {
      let n = 0;
      for (const pid of await pids()) if (!except.has(pid) && kill(pid, sig)) n++;
      return n;
    },
    killAll,
    async oomKilled() {
      return false;
    },
    async remove() {
      for (let i = 0; i < 3000 && (await pids()).length > 0; i++) {
        if (i % 50 === 0) await killAll();
        await sleep(10);
      }
    },
    settle() {
      return this.remove();
    },
  };
}
