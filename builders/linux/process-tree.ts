/**
 * The fallback "group" when cgroups cannot be used: a process and its descendants, found by
 * walking /proc. No limits are enforced. It is enough to stop a bwrap sandbox, because everything
 * a job starts stays below bwrap's pid-namespace init, and that init dies with bwrap.
 */
import { readdir, readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { JobGroup } from './cgroup.ts';

/** Parent pid of every process, read from /proc/<pid>/stat. */
async function parentMap(proc: string): Promise<Map<number, number>> {
  const map = new Map<number, number>();
  const names = await readdir(proc).catch(() => [] as string[]);
  await Promise.all(
    names
      .filter((n) => /^\d+$/.test(n))
      .map(async (n) => {
        const stat = await readFile(`${proc}/${n}/stat`, 'utf8').catch(() => '');
        // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so cut at the last ')'.
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        const ppid = Number(fields[1]);
        if (fields[0] !== 'Z' && Number.isInteger(ppid)) map.set(Number(n), ppid);
      }),
  );
  return map;
}

/** `root` and all its live (non-zombie) descendants. */
export async function processTree(root: number, proc = '/proc'): Promise<number[]> {
  const parents = await parentMap(proc);
  const children = new Map<number, number[]>();
  for (const [pid, ppid] of parents) children.set(ppid, [...(children.get(ppid) ?? []), pid]);
  const out: number[] = [];
  const todo = parents.has(root) ? [root] : [...(children.get(root) ?? [])];
  while (todo.length > 0) {
    const pid = todo.pop() as number;
    out.push(pid);
    todo.push(...(children.get(pid) ?? []));
  }
  return out;
}

function kill(pid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false; // already gone
  }
}

/** A {@link JobGroup} over the process tree of the first process added. */
export function processTreeGroup(): JobGroup {
  let root: number | undefined;
  const pids = async (): Promise<number[]> => (root === undefined ? [] : processTree(root));
  const killAll = async (): Promise<void> => {
    for (const pid of await pids()) kill(pid, 'SIGKILL');
  };
  return {
    mode: 'none',
    async add(pid) {
      root ??= pid;
    },
    pids,
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
      for (let i = 0; i < 500 && (await pids()).length > 0; i++) {
        await killAll();
        await sleep(10);
      }
    },
  };
}
