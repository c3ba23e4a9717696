/**
 * A small cgroup manager for job sandboxes: detects cgroup v2 or v1 at runtime and hands each job
 * a group under a parent (limits: memory, pids, optionally CPU) in which it lists, signals and
 * kills every process and reads whether the OOM killer acted. When neither hierarchy is usable
 * (no permission, not mounted) `create` answers null and the caller falls back to
 * builders/linux/process-tree.ts; the manager says so once through `log`.
 *
 * Groups are reused: one whose job is over goes back to a short free list once it is empty, and
 * the next job gets it with its own limits written, instead of a mkdir and rmdir per controller
 * per job (v1 has four). Its OOM kills are counted per job (the counter when it was handed out is
 * the job's zero). A group that cannot be emptied is removed, never handed out again.
 */
import { randomBytes } from 'node:crypto';
import { access, chmod, mkdir, readdir, readFile, rmdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  leaseOf,
  limitV1,
  limitV2,
  v1Group,
  v2Group,
  type CgroupMode,
  type GroupLimits,
  type HeldGroup,
  type JobGroup,
} from './cgroup-group.ts';

export type { CgroupMode, GroupLimits, JobGroup } from './cgroup-group.ts';

export interface CgroupManagerOptions {
  /** Where the cgroup file systems are mounted. @default "/sys/fs/cgroup" */
  root?: string;
  /** Parent of the job groups, relative to the hierarchy root (v2: a delegated subtree). @default "kiln" */
  parent?: string;
  /** Age after which an empty job group counts as left over by a dead builder. @default 60000 */
  staleAfterMs?: number;
  /** Where the one-time fallback notice goes. @default console.warn */
  log?: (msg: string) => void;
  /** Emptied groups kept for the next jobs. @default 4 */
  keepFree?: number;
}

export interface CgroupManager {
  /** Detects (once) which cgroup version is usable, preparing the parent group. */
  detect(): Promise<CgroupMode>;
  /**
   * A group of its own for one job, with `limits`, or null when cgroups are not usable. Its
   * `remove` gives it back (for the next job once it is empty).
   */
  create(limits: GroupLimits): Promise<JobGroup | null>;
  /**
   * Removes the free groups, once those being given back are in; groups given back later are
   * removed, not kept.
   */
  close(): Promise<void>;
}

const V2_REQUIRED = ['memory', 'pids'];
const V1_REQUIRED = ['memory', 'pids'];
const V1_OPTIONAL = ['freezer', 'cpu'];

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
const words = async (p: string): Promise<string[]> => (await readText(p)).split(/\s+/);

/** An emptied group waiting for a job: its directories, its OOM-kill count and limits now. */
interface FreeGroup {
  group: HeldGroup;
  dirs: string[];
  oomKills: number;
  limits: GroupLimits;
}

const sameLimits = (a: GroupLimits, b: GroupLimits): boolean =>
  a.memoryBytes === b.memoryBytes && a.pids === b.pids && a.cpus === b.cpus;

/** Builds a cgroup manager (see the module comment). */
export function createCgroupManager(opts: CgroupManagerOptions = {}): CgroupManager {
  const root = opts.root ?? '/sys/fs/cgroup';
  const parent = opts.parent ?? 'kiln';
  const log = opts.log ?? ((m: string) => console.warn(m));
  const staleAfterMs = opts.staleAfterMs ?? 60_000;
  const keepFree = opts.keepFree ?? 4;
  if (parent.split('/').some((s) => s === '..' || s === '.') || parent.startsWith('/')) {
    throw new Error(`cgroup parent must be a relative path without . or ..: ${parent}`);
  }
  /** v1: controller → its mounted hierarchy; v2: the one hierarchy, under the key "". */
  let dirs = new Map<string, string>();
  let detected: Promise<CgroupMode> | undefined;

  async function detectV2(): Promise<boolean> {
    const ctrls = await words(join(root, 'cgroup.controllers'));
    if (!V2_REQUIRED.every((c) => ctrls.includes(c))) return false;
    const wanted = [...V2_REQUIRED, ...(ctrls.includes('cpu') ? ['cpu'] : [])];
    // Every level from the root down to the parent must hand the controllers to its children.
    let dir = root;
    for (const seg of ['', ...parent.split('/')]) {
      dir = join(dir, seg);
      await mkdir(dir, { recursive: true });
      const control = join(dir, 'cgroup.subtree_control');
      const on = await words(control);
      for (const c of wanted.filter((w) => !on.includes(w)))
        await writeFile(control, `+${c}`).catch(() => undefined);
      const now = await words(control);
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
        if (V1_REQUIRED.includes(c)) throw err;
        found.delete(c);
      }
    }
    dirs = found;
    return true;
  }

  /**
   * Removes empty job groups older than `staleAfterMs`: left by a builder that was killed (its
   * sandboxes die with it, through bwrap's --die-with-parent, but their groups stay).
   */
  async function sweep(): Promise<void> {
    let removed = 0;
    for (const d of dirs.values()) {
      // A directory listing taken while another builder sharing the parent removes entries may
      // skip some (cgroupfs readdir under concurrent rmdir), so list again until a pass removes
      // nothing.
      for (let pass = -1; pass !== 0;) {
        pass = await sweepOnce(join(d, parent));
        removed += pass;
      }
    }
    if (removed > 0) log(`kiln: removed ${removed} empty job cgroup(s) left under ${parent}`);
  }

  async function sweepOnce(dir: string): Promise<number> {
    let removed = 0;
    for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      const g = join(dir, e.name);
      if (!e.isDirectory() || (await readText(join(g, 'cgroup.procs'))).trim() !== '') continue;
      // Another builder sharing the parent may remove (or reuse) the group meanwhile: a group
      // that is gone is simply skipped, never an error.
      const made = await stat(g).then(
        (s) => s.ctimeMs,
        () => null,
      );
      if (made !== null && Date.now() - made >= staleAfterMs && (await rmdirOk(g))) removed++;
    }
    return removed;
  }

  function detect(): Promise<CgroupMode> {
    const fallback = 'jobs run WITHOUT memory/pids limits, tracked by process tree';
    detected ??= (async (): Promise<CgroupMode> => {
      try {
        const mode = (await exists(join(root, 'cgroup.controllers')))
          ? (await detectV2()) && ('v2' as const)
          : (await detectV1()) && ('v1' as const);
        if (mode) {
          // Sweeping is housekeeping: its failure never makes cgroups unusable.
          await sweep().catch((err: Error) => log(`kiln: cgroup sweep under ${parent}: ${err.message}`));
          return mode;
        }
        log(`kiln: no usable cgroup (v1 or v2) under ${root}; ${fallback}`);
      } catch (err) {
        log(`kiln: cgroups under ${root} not usable (${(err as Error).message}); ${fallback}`);
      }
      return 'none';
    })();
    return detected;
  }

  const free: FreeGroup[] = [];
  /** Groups being given back (a job's answer does not wait for that): close waits for them. */
  const returning = new Set<Promise<void>>();
  let closed = false;

  /** A new group `g-<random>` with `limits`. */
  async function make(mode: 'v1' | 'v2', limits: GroupLimits): Promise<FreeGroup> {
    const name = `g-${randomBytes(6).toString('hex')}`;
    const paths = new Map([...dirs].map(([c, d]) => [c, join(d, parent, name)]));
    const group = mode === 'v2' ? v2Group(paths.get('') as string) : v1Group(paths);
    const made: string[] = [];
    try {
      for (const p of paths.values()) {
        await mkdir(p);
        made.push(p);
      }
      await (mode === 'v2' ? limitV2 : limitV1)(paths, limits);
    } catch (err) {
      for (const p of made) await rmdir(p).catch(() => undefined);
      throw err;
    }
    return { group, dirs: made, oomKills: 0, limits };
  }

  /**
   * A free group with `limits` written, or null when none is left. Its directories are touched
   * (chmod): another builder's sweep of stale empty groups under a shared parent goes by their
   * ctime, and must not take one just handed out. One that is gone (swept) is dropped.
   */
  async function reuse(limits: GroupLimits): Promise<FreeGroup | null> {
    for (let f = free.pop(); f; f = free.pop()) {
      try {
        for (const d of f.dirs) await chmod(d, 0o755);
        if (!sameLimits(f.limits, limits)) await f.group.limit(limits);
        return { ...f, limits };
      } catch {
        await f.group.remove().catch(() => undefined);
      }
    }
    return null;
  }

  /** Takes a job's group back: kept for the next job once empty (when there is room), else removed. */
  async function giveBack(f: FreeGroup): Promise<void> {
    try {
      await f.group.settle();
    } catch (err) {
      await f.group.remove(); // never reused: it could not be emptied
      throw err;
    }
    if (closed || free.length >= keepFree) return f.group.remove();
    // Taken now, with no process left to be killed: the next job's OOM kills are those above it.
    free.push({ ...f, oomKills: await f.group.oomKills() });
  }

  /** The job's view of `f`; the limits it has when given back are what the next job compares with. */
  const lease = (f: FreeGroup): JobGroup => {
    let current = f.limits;
    const job = leaseOf(f.group, f.oomKills, () => {
      const p = giveBack({ ...f, limits: current });
      returning.add(p);
      void p.catch(() => undefined).finally(() => returning.delete(p));
      return p;
    });
    return {
      ...job,
      async limit(l) {
        current = { memoryBytes: -1, pids: -1 }; // unknown until every write landed
        await job.limit(l);
        current = l;
      },
    };
  };

  return {
    detect,
    async create(limits) {
      const mode = await detect();
      if (mode === 'none') return null;
      const f = (await reuse(limits)) ?? (await make(mode, limits));
      return lease(f);
    },
    async close() {
      closed = true;
      await Promise.allSettled([...returning]);
      const left = free.splice(0);
      await Promise.all(left.map((f) => f.group.remove()));
    },
  };
}
