/**
 * A small cgroup manager for job sandboxes: detects cgroup v2 or v1 at runtime, creates one group
 * per job under a parent (limits: memory, pids, optionally CPU), lists, signals and kills every
 * process in it, reads whether the OOM killer acted, and removes it. When neither hierarchy is
 * usable (no permission, not mounted) `create` answers null and the caller falls back to
 * builders/linux/process-tree.ts; the manager says so once through `log`.
 */
import { access, mkdir, readdir, readFile, rmdir, stat, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
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
  /** The processes in the group now. */
  pids(): Promise<number[]>;
  /** Sends `sig` to every process but those in `except`; answers how many were signalled. */
  signal(sig: NodeJS.Signals, except?: ReadonlySet<number>): Promise<number>;
  /** SIGKILLs every process, without racing against forks where the kernel allows it. */
  killAll(): Promise<void>;
  /** True when the kernel's OOM killer killed a process of the group. */
  oomKilled(): Promise<boolean>;
  /** Kills what is left, waits until the group is empty, and deletes it. */
  remove(): Promise<void>;
}

export interface CgroupManagerOptions {
  /** Where the cgroup file systems are mounted. @default "/sys/fs/cgroup" */
  root?: string;
  /** Parent of the job groups, relative to the hierarchy root (v2: a delegated subtree). @default "kiln" */
  parent?: string;
  /** Age after which an empty job group counts as left over by a dead builder. @default 60000 */
  staleAfterMs?: number;
  /** Where the one-time fallback notice goes. @default console.warn */
  log?: (msg: string) => void;
}

export interface CgroupManager {
  /** Detects (once) which cgroup version is usable, preparing the parent group. */
  detect(): Promise<CgroupMode>;
  /** A new group for `jobId` with `limits`, or null when cgroups are not usable. */
  create(jobId: string, limits: GroupLimits): Promise<JobGroup | null>;
}

const V2_REQUIRED = ['memory', 'pids'];
const V1_REQUIRED = ['memory', 'pids'] as const;
const V1_OPTIONAL = ['freezer', 'cpu'] as const;
const CPU_PERIOD_US = 100_000;

const exists = (p: string): Promise<boolean> =>
  access(p).then(
    () => true,
    () => false,
  );
const rmdirOk = (p: string): Promise<boolean> =>
  rmdir(p).then(
    () => true,
    () => false,
  );
const readText = (p: string): Promise<string> => readFile(p, 'utf8').catch(() => '');
const tryWrite = (p: string, v: string): Promise<boolean> =>
  writeFile(p, v).then(
    () => true,
    () => false,
  );

/** A cgroup directory name for a job id: the id itself when safe, else a hash of it. */
export function groupName(jobId: string): string {
  if (/^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$/.test(jobId)) return jobId;
  return `job-${createHash('sha256').update(jobId).digest('hex').slice(0, 32)}`;
}

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

/** Builds a cgroup manager (see the module comment). */
export function createCgroupManager(opts: CgroupManagerOptions = {}): CgroupManager {
  const root = opts.root ?? '/sys/fs/cgroup';
  const parent = opts.parent ?? 'kiln';
  const log = opts.log ?? ((m: string) => console.warn(m));
  const staleAfterMs = opts.staleAfterMs ?? 60_000;
  if (parent.split('/').some((s) => s === '..' || s === '.') || parent.startsWith('/')) {
    throw new Error(`cgroup parent must be a relative path without . or ..: ${parent}`);
  }
  /** v1: controller → mounted hierarchy; v2: the single hierarchy under "". */
  let dirs = new Map<string, string>();
  let detected: Promise<CgroupMode> | undefined;

  async function detectV2(): Promise<boolean> {
    const ctrls = (await readText(join(root, 'cgroup.controllers'))).split(/\s+/);
    if (!ctrls.includes('memory') || !ctrls.includes('pids')) return false;
    const wanted = [...V2_REQUIRED, ...(ctrls.includes('cpu') ? ['cpu'] : [])];
    // Every level from the root down to the parent must hand the controllers to its children.
    let dir = root;
    for (const seg of ['', ...parent.split('/')]) {
      dir = join(dir, seg);
      await mkdir(dir, { recursive: true });
      const control = join(dir, 'cgroup.subtree_control');
      const on = (await readText(control)).split(/\s+/);
      for (const c of wanted.filter((w) => !on.includes(w))) await tryWrite(control, `+${c}`);
      const now = (await readText(control)).split(/\s+/);
      const missing = V2_REQUIRED.filter((c) => !now.includes(c));
      if (missing.length > 0) throw new Error(`cannot enable ${missing.join(', ')} in ${control}`);
    }
    dirs = new Map([['', root]]);
    return true;
  }

  async function detectV1(): Promise<boolean> {
    const found = new Map<string, string>();
    for (const c of [...V1_REQUIRED, ...V1_OPTIONAL]) {
      if (await exists(join(root, c, 'cgroup.procs'))) found.set(c, join(root, c));
    }
    if (!V1_REQUIRED.every((c) => found.has(c))) return false;
    for (const [c, d] of found) {
      try {
        await mkdir(join(d, parent), { recursive: true });
      } catch (err) {
        if (V1_REQUIRED.includes(c as (typeof V1_REQUIRED)[number])) throw err;
        found.delete(c);
      }
    }
    dirs = found;
    return true;
  }

  /**
   * Removes empty job groups older than a minute: left by a builder that was killed (its
   * sandboxes die with it, through bwrap's --die-with-parent, but their groups stay).
   */
  async function sweep(): Promise<void> {
    let removed = 0;
    for (const d of dirs.values()) {
      for (const e of await readdir(join(d, parent), { withFileTypes: true }).catch(() => [])) {
        const g = join(d, parent, e.name);
        if (!e.isDirectory() || (await readText(join(g, 'cgroup.procs'))).trim() !== '') continue;
        const old = Date.now() - (await stat(g)).ctimeMs >= staleAfterMs;
        if (old && (await rmdirOk(g))) removed++;
      }
    }
    if (removed > 0) log(`kiln: removed ${removed} empty job cgroup(s) left under ${parent}`);
  }

  function detect(): Promise<CgroupMode> {
    detected ??= (async (): Promise<CgroupMode> => {
      try {
        if (await exists(join(root, 'cgroup.controllers'))) {
          if (await detectV2()) return sweep().then(() => 'v2' as const);
        } else if (await detectV1()) {
          return sweep().then(() => 'v1' as const);
        }
        log(
          `kiln: no usable cgroup (v1 or v2) under ${root}; jobs run WITHOUT memory/pids limits, tracked by process tree`,
        );
      } catch (err) {
        log(
          `kiln: cgroups under ${root} not usable (${(err as Error).message}); jobs run WITHOUT memory/pids limits, tracked by process tree`,
        );
      }
      return 'none';
    })();
    return detected;
  }

  return {
    detect,
    async create(jobId, limits) {
      const mode = await detect();
      if (mode === 'none') return null;
      const name = groupName(jobId);
      const paths = new Map([...dirs].map(([c, d]) => [c, join(d, parent, name)]));
      const group = mode === 'v2' ? v2Group(paths.get('') as string) : v1Group(paths);
      const made = await Promise.all(
        [...paths.values()].map((p) =>
          mkdir(p).then(
            () => true,
            (err: NodeJS.ErrnoException) => {
              if (err.code === 'EEXIST') return false;
              throw err;
            },
          ),
        ),
      );
      if (made.includes(false)) {
        await group.remove(); // left over from an earlier run of this job: empty it and start clean
        for (const p of paths.values()) await mkdir(p);
      }
      await (mode === 'v2' ? limitV2 : limitV1)(paths, limits);
      return group;
    },
  };
}

async function mustWrite(p: string, v: string): Promise<void> {
  await writeFile(p, v);
}

async function limitV2(paths: Map<string, string>, l: GroupLimits): Promise<void> {
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

async function limitV1(paths: Map<string, string>, l: GroupLimits): Promise<void> {
  const mem = paths.get('memory') as string;
  await mustWrite(join(mem, 'memory.limit_in_bytes'), String(l.memoryBytes));
  await tryWrite(join(mem, 'memory.memsw.limit_in_bytes'), String(l.memoryBytes)); // needs swapaccount=1
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

function v2Group(dir: string): JobGroup {
  const g: JobGroup = {
    mode: 'v2',
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
    async oomKilled() {
      return (field(await readText(join(dir, 'memory.events')), 'oom_kill') ?? 0) > 0;
    },
    remove: () => removeDirs(g, [dir]),
  };
  return g;
}

function v1Group(paths: Map<string, string>): JobGroup {
  const procs = join(paths.get('pids') as string, 'cgroup.procs');
  const freezer = paths.get('freezer');
  const g: JobGroup = {
    mode: 'v1',
    async add(pid) {
      for (const p of paths.values()) await writeFile(join(p, 'cgroup.procs'), String(pid));
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
    async oomKilled() {
      const mem = paths.get('memory') as string;
      const kills = field(await readText(join(mem, 'memory.oom_control')), 'oom_kill');
      if (kills !== undefined) return kills > 0;
      return Number((await readText(join(mem, 'memory.failcnt'))).trim() || 0) > 0; // kernels < 4.13
    },
    remove: () => removeDirs(g, [...paths.values()]),
  };
  return g;
}
