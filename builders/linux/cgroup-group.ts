/**
 * One job's cgroup, v1 or v2: limits, moving a process in, listing, signalling and killing every
 * process, the OOM-kill count, removal. builders/linux/cgroup.ts detects the version, makes them
 * and hands each to one job at a time ({@link leaseOf}): a group emptied after its job is kept for
 * the next one instead of being removed and made again.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export type CgroupMode = 'v2' | 'v1' | 'none';

/** Limits applied to a job's group. */
export interface GroupLimits {
  memoryBytes: number;
  pids: number;
  /** CPU bandwidth in CPUs (1.5 = one and a half cores); undefined: unlimited. */
  cpus?: number;
}

/** Every process of one job, whatever tracks them (a cgroup, or the process tree). */
export interface JobGroup {
  readonly mode: CgroupMode;
  /** Moves `pid` into the group; its later children are born inside. */
  add(pid: number): Promise<void>;
  /** Writes new limits (a sandbox made ready ahead gets its job's limits when the job arrives). */
  limit(l: GroupLimits): Promise<void>;
  /** The processes in the group now. */
  pids(): Promise<number[]>;
  /** Sends `sig` to every process but those in `except`; answers how many were signalled. */
  signal(sig: NodeJS.Signals, except?: ReadonlySet<number>): Promise<number>;
  /** SIGKILLs every process, without racing against forks where the kernel allows it. */
  killAll(): Promise<void>;
  /** True when the kernel's OOM killer killed a process of the group. */
  oomKilled(): Promise<boolean>;
  /** Kills what is left and waits until the group is empty (it stays, for `remove`). */
  settle(): Promise<void>;
  /**
   * Kills what is left, waits until the group is empty, and deletes it (a group the manager
   * handed out goes back to it instead, for the next job: then this group is inert).
   */
  remove(): Promise<void>;
}

/** A cgroup as the manager holds it across jobs: a {@link JobGroup} with its OOM-kill counter. */
export interface HeldGroup extends JobGroup {
  /** How many processes the kernel's OOM killer killed in the group since it was made. */
  oomKills(): Promise<number>;
}

const CPU_PERIOD_US = 100_000;

// cgroup files are the kernel's, in memory: read and written synchronously, which costs less than
// a thread-pool round trip each (several per job: limits, process lists, the OOM count). Not the
// move of a process (cgroup.procs): the kernel may wait there for an RCU grace period (v1 takes
// cgroup_threadgroup_rwsem for writing), milliseconds to tens of them on a loaded machine, which a
// synchronous write spent blocking every other job of the builder (bench:farm-cpu's V8 profile:
// writeFileSync under add, 20 ms per compile at load 21). It goes through the thread pool.
const readText = async (p: string): Promise<string> => {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return '';
  }
};
const tryWrite = async (p: string, v: string): Promise<boolean> => {
  try {
    writeFileSync(p, v);
    return true;
  } catch {
    return false;
  }
};

/** A numeric field ("oom_kill 3") of a flat-keyed cgroup file, or undefined. */
function field(text: string, key: string): number | undefined {
  const m = new RegExp(`^${key} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
}

function parsePids(text: string): number[] {
  return text
    .split('\n')
    .filter((l) => /^\d+$/.test(l))
    .map(Number);
}

async function mustWrite(p: string, v: string): Promise<void> {
  writeFileSync(p, v);
}

/** Writes `l` into a v2 group (`paths.get('')`). */
export async function limitV2(paths: Map<string, string>, l: GroupLimits): Promise<void> {
  const g = paths.get('') as string;
  await mustWrite(join(g, 'memory.max'), String(l.memoryBytes));
  await tryWrite(join(g, 'memory.swap.max'), '0');
  await mustWrite(join(g, 'pids.max'), String(l.pids));
  if (l.cpus !== undefined) {
    await mustWrite(
      join(g, 'cpu.max'),
      `${Math.max(1000, Math.round(l.cpus * CPU_PERIOD_US))} ${CPU_PERIOD_US}`,
    );
  }
}

/** Writes `l` into a v1 group (one directory per controller). */
export async function limitV1(paths: Map<string, string>, l: GroupLimits): Promise<void> {
  const mem = paths.get('memory') as string;
  // memory+swap may never be below memory: raising both takes memsw first, lowering takes it last.
  const memsw = join(mem, 'memory.memsw.limit_in_bytes'); // needs swapaccount=1
  await tryWrite(memsw, String(l.memoryBytes));
  await mustWrite(join(mem, 'memory.limit_in_bytes'), String(l.memoryBytes));
  await tryWrite(memsw, String(l.memoryBytes));
  await mustWrite(join(paths.get('pids') as string, 'pids.max'), String(l.pids));
  const cpu = paths.get('cpu');
  if (l.cpus !== undefined && cpu) {
    await mustWrite(join(cpu, 'cpu.cfs_period_us'), String(CPU_PERIOD_US));
    await mustWrite(
      join(cpu, 'cpu.cfs_quota_us'),
      String(Math.max(1000, Math.round(l.cpus * CPU_PERIOD_US))),
    );
  }
}

function killEach(pids: readonly number[], sig: NodeJS.Signals, except?: ReadonlySet<number>): number {
  let n = 0;
  for (const pid of pids) {
    if (except?.has(pid)) continue;
    try {
      process.kill(pid, sig);
      n++;
    } catch {
      // gone already
    }
  }
  return n;
}

/** Waits for `state` to read as `want` (the freezer settles asynchronously). */
async function settle(file: string, want: RegExp): Promise<void> {
  for (let i = 0; i < 100 && !want.test(await readText(file)); i++) await sleep(5);
}

/** Kills what is left of the group until it is empty. */
async function settleGroup(g: JobGroup): Promise<void> {
  // Right after a sandbox ends its last processes are usually still exiting on their own (the
  // pid namespace's init takes them down): look again soon, and kill only what is still there.
  for (const ms of [1, 2, 4, 8, 16]) {
    if ((await g.pids()).length === 0) return;
    await sleep(ms);
  }
  for (let i = 0; i < 3000; i++) {
    if ((await g.pids()).length === 0) return;
    if (i % 50 === 0) await g.killAll();
    await sleep(10);
  }
  throw new Error('the group still has processes after 30 s');
}

/** Shared tail of both versions: kill, wait until empty, rmdir every directory. */
async function removeDirs(g: JobGroup, dirs: readonly string[]): Promise<void> {
  for (let i = 0; i < 3000; i++) {
    const left = await g.pids();
    if (left.length > 0) {
      if (i % 50 === 0) await g.killAll();
      await sleep(10);
      continue;
    }
    const results = await Promise.all(
      dirs.map((d) =>
        rmdir(d).then(
          () => true,
          (err: NodeJS.ErrnoException) => err.code === 'ENOENT',
        ),
      ),
    );
    if (results.every(Boolean)) return;
    await sleep(10);
  }
  throw new Error(`cgroup ${dirs.join(', ')} still busy after 30 s`);
}

/** The v2 group at `dir`. */
export function v2Group(dir: string): HeldGroup {
  const g: HeldGroup = {
    mode: 'v2',
    limit: (l) => limitV2(new Map([['', dir]]), l),
    async add(pid) {
      await writeFile(join(dir, 'cgroup.procs'), String(pid));
    },
    async pids() {
      return parsePids(await readText(join(dir, 'cgroup.procs')));
    },
    async signal(sig, except) {
      return killEach(await g.pids(), sig, except);
    },
    async killAll() {
      if (await tryWrite(join(dir, 'cgroup.kill'), '1')) return; // Linux >= 5.14
      await tryWrite(join(dir, 'cgroup.freeze'), '1');
      await settle(join(dir, 'cgroup.events'), /^frozen 1$/m);
      killEach(await g.pids(), 'SIGKILL');
      await tryWrite(join(dir, 'cgroup.freeze'), '0');
    },
    async oomKills() {
      return field(await readText(join(dir, 'memory.events')), 'oom_kill') ?? 0;
    },
    oomKilled: async () => (await g.oomKills()) > 0,
    settle: () => settleGroup(g),
    remove: () => removeDirs(g, [dir]),
  };
  return g;
}

/** The v1 group with one directory per controller. */
export function v1Group(paths: Map<string, string>): HeldGroup {
  const procs = join(paths.get('pids') as string, 'cgroup.procs');
  const freezer = paths.get('freezer');
  const g: HeldGroup = {
    mode: 'v1',
    limit: (l) => limitV1(paths, l),
    async add(pid) {
      // Into every controller's group at once: the writes wait on the kernel, not on each other.
      await Promise.all([...paths.values()].map((p) => writeFile(join(p, 'cgroup.procs'), String(pid))));
    },
    async pids() {
      return parsePids(await readText(procs));
    },
    async signal(sig, except) {
      return killEach(await g.pids(), sig, except);
    },
    async killAll() {
      if (!freezer) {
        for (let i = 0; i < 20 && killEach(await g.pids(), 'SIGKILL') > 0; i++) await sleep(5);
        return;
      }
      const state = join(freezer, 'freezer.state');
      await tryWrite(state, 'FROZEN');
      await settle(state, /^FROZEN$/m);
      killEach(await g.pids(), 'SIGKILL');
      await tryWrite(state, 'THAWED');
    },
    async oomKills() {
      const mem = paths.get('memory') as string;
      const kills = field(await readText(join(mem, 'memory.oom_control')), 'oom_kill');
      if (kills !== undefined) return kills;
      return Number((await readText(join(mem, 'memory.failcnt'))).trim() || 0); // kernels < 4.13
    },
    oomKilled: async () => (await g.oomKills()) > 0,
    settle: () => settleGroup(g),
    remove: () => removeDirs(g, [...paths.values()]),
  };
  return g;
}

/**
 * One job's use of the held group `g`: OOM kills counted from `oomBase` (the counter when the job
 * got it), and `remove` gives the group back (`giveBack`, once) instead of deleting it. Once given
 * back it is inert: it signals nothing and lists no process, so a late stop of this job can never
 * reach the next job's processes.
 */
export function leaseOf(g: HeldGroup, oomBase: number, giveBack: (g: HeldGroup) => Promise<void>): JobGroup {
  let back: Promise<void> | undefined;
  const live = (): boolean => back === undefined;
  return {
    mode: g.mode,
    async add(pid) {
      if (!live()) throw new Error('the job group was given back');
      await g.add(pid);
    },
    limit: (l) => (live() ? g.limit(l) : Promise.resolve()),
    pids: () => (live() ? g.pids() : Promise.resolve([])),
    signal: (sig, except) => (live() ? g.signal(sig, except) : Promise.resolve(0)),
    killAll: () => (live() ? g.killAll() : Promise.resolve()),
    oomKilled: async () => (await g.oomKills()) > oomBase,
    settle: () => (live() ? g.settle() : Promise.resolve()),
    remove: () => (back ??= giveBack(g)),
  };
}
