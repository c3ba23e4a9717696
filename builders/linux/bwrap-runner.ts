/**
 * The Linux sandbox runner: each job in a bubblewrap sandbox (builders/linux/bwrap-args.ts)
 * running as an unprivileged uid, inside its own cgroup (builders/linux/cgroup.ts); starting and
 * watching one is builders/linux/bwrap-launch.ts.
 *
 * With `ready`, sandboxes are made ready before their job (builders/linux/ready-pool.ts): a job on
 * the host system whose directory is on the same file system takes one, its directory's entries
 * are moved into the ready sandbox's /job (the directory's path is a link there while the job
 * runs), the waiter becomes its command, and once every process of it is gone the entries are
 * moved back. Anything else (a toolchain root, another file system,
 * none ready yet) starts cold, as it always did.
 */
import { constants as fsConstants } from 'node:fs';
import {
  access,
  chmod,
  chown,
  lstat,
  mkdir,
  readdir,
  rename,
  rm,
  rmdir,
  stat,
  symlink,
  unlink,
} from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';
import { KilnError } from '../../protocol/errors.ts';
import type { SandboxRequest, SandboxResult, SandboxRunner } from '../core/sandbox.ts';
import { PLAIN_DISKS, type JobDisk, type JobDisks } from '../core/job-disk.ts';
import { DEFAULT_PROFILE, LIMIT_DEFAULTS } from '../../protocol/job.ts';
import { bwrapArgs, sandboxCwd, sandboxEnv } from './bwrap-args.ts';
import { drain, FD, launch } from './bwrap-launch.ts';
import { watch } from './bwrap-watch.ts';
import { createCgroupManager, type GroupLimits } from './cgroup.ts';
import { takeFifos, type Fifo } from './fifo.ts';
import { launcher as sharedLauncher } from './launcher.ts';
import { assertReachable, prepareJobDir, rootEntries } from './job-dir.ts';
import { processTreeGroup } from './process-tree.ts';
import { DEFAULT_PROFILES_DIR, loadProfile, type Profile } from './profile.ts';
import { createReadyPool, type ReadySandbox } from './ready-pool.ts';
import { seccompFilter, seccompSupported } from './seccomp.ts';
import { BAD_CWD, jobProgram, READY, WAITER } from './waiter.ts';

export interface BwrapRunnerOptions {
  /** The bwrap binary. @default "/usr/bin/bwrap" */
  bwrapPath?: string;
  /** Directory of sandbox profiles. @default bwrap-profiles/ of this checkout */
  profilesDir?: string;
  /** Parent of the job cgroups, relative to the hierarchy root. @default "kiln" */
  cgroupParent?: string;
  /** Where the cgroup file systems are mounted. @default "/sys/fs/cgroup" */
  cgroupRoot?: string;
  /** Host uid jobs run as, instead of the profile's. @default the profile's `uid` */
  uid?: number;
  /** Host gid jobs run as, instead of the profile's. @default the profile's `gid` */
  gid?: number;
  /** CPU bandwidth per job, in CPUs. @default undefined (no CPU limit) */
  cpus?: number;
  /**
   * Start sandboxes through the sandbox launcher (builders/linux/launcher.ts) where the system has
   * Perl and FIFOs can be made; false: always spawn them from this process. @default true
   */
  launcher?: boolean;
  /** Where one-time notices go (cgroup fallback, no seccomp). @default console.warn */
  log?: (msg: string) => void;
  /**
   * Sandboxes made ready ahead of jobs: `count` per profile in use, in directories under `dir`
   * (which the sandbox uid must be able to reach, on the file system of the job directories).
   * @default none (every job starts its sandbox cold)
   */
  ready?: {
    dir: string;
    count?: number;
    /**
     * The job file systems (builders/core/job-disk.ts) whose root a ready sandbox binds: then
     * {@link BwrapRunner.disks} hands a job the disk of a sandbox already waiting on it.
     * @default plain directories
     */
    disks?: JobDisks;
  };
}

/** The bubblewrap runner, and the job disks to give the agent (sandboxes made ready on them). */
export interface BwrapRunner extends SandboxRunner {
  /**
   * `ready.disks`, except that a disk of a size a ready sandbox has is that sandbox's: the job's
   * files go straight into the directory it binds. Without `ready`, `ready.disks` itself.
   */
  readonly disks: JobDisks;
}

/** Limits of a ready sandbox before any job was seen: a job's defaults (protocol/job.ts). */
const WAITING: GroupLimits = {
  memoryBytes: LIMIT_DEFAULTS.memoryMiB * 1024 * 1024,
  pids: LIMIT_DEFAULTS.pids,
};

/** bwrap's options (read from a descriptor) apart from `--` and the command, which stay on its command line. */
function splitArgs(args: string[], argv: readonly string[]): { options: string[]; command: string[] } {
  const split = args.length - argv.length - 1;
  if (args[split] !== '--') throw new KilnError('ERR_INTERNAL', 'bwrap arguments end without the command');
  return { options: args.slice(0, split), command: args.slice(split) };
}

const sameLimits = (a: GroupLimits, b: GroupLimits): boolean =>
  a.memoryBytes === b.memoryBytes && a.pids === b.pids && a.cpus === b.cpus;

/** Times consecutive steps: `lap(name)` records the ms since the previous lap. */
function stepClock(): { lap(name: string): void; steps: Record<string, number> } {
  const steps: Record<string, number> = {};
  let last = performance.now();
  return {
    steps,
    lap(name) {
      const now = performance.now();
      steps[name] = (steps[name] ?? 0) + Math.round((now - last) * 100) / 100;
      last = now;
    },
  };
}

/** Builds the bubblewrap runner. */
export function createBwrapRunner(opts: BwrapRunnerOptions = {}): BwrapRunner {
  const bwrapPath = opts.bwrapPath ?? '/usr/bin/bwrap';
  const profilesDir = opts.profilesDir ?? DEFAULT_PROFILES_DIR;
  const log = opts.log ?? ((m: string) => console.warn(m));
  const via = opts.launcher === false ? { launcher: null } : {};
  const cgroups = createCgroupManager({ root: opts.cgroupRoot, parent: opts.cgroupParent, log });
  const profiles = new Map<string, Promise<Profile>>();
  const noted = new Set<string>();
  const noteOnce = (key: string, msg: string): void => {
    if (!noted.has(key)) log(msg);
    noted.add(key);
  };

  const profile = (name: string): Promise<Profile> => {
    let p = profiles.get(name);
    if (!p) {
      p = loadProfile(name, profilesDir);
      p.catch(() => profiles.delete(name));
      profiles.set(name, p);
    }
    return p;
  };

  const installed = (): Promise<void> =>
    access(bwrapPath, fsConstants.X_OK).catch((err: unknown) => {
      throw new KilnError(
        'ERR_CONFIG',
        `bubblewrap is not installed (no executable ${bwrapPath}): install the Debian package "bubblewrap"`,
        { cause: err },
      );
    });
  const filters = new Map<string, Buffer>();
  const filterOf = (arch: 'x64' | 'arm64', network: Profile['network']): Buffer => {
    const key = `${arch}/${network}`;
    let f = filters.get(key);
    if (!f) filters.set(key, (f = seccompFilter(arch, { network })));
    return f;
  };
  const seccompFor = (prof: Profile): Buffer | undefined => {
    const arch = process.arch;
    const seccomp = prof.seccomp && seccompSupported(arch) ? filterOf(arch, prof.network) : undefined;
    if (prof.seccomp && !seccomp)
      noteOnce('seccomp', `kiln: no seccomp table for ${process.arch}; sandboxes run without seccomp`);
    return seccomp;
  };
  const pipes = (uid: number, gid: number): Promise<Fifo[] | undefined> =>
    takeFifos(2, uid, gid, opts.launcher === false ? null : sharedLauncher()).catch((err: unknown) => {
      noteOnce(
        'fifo',
        `kiln: cannot make FIFOs (${(err as Error).message}); job output goes through sockets`,
      );
      return undefined;
    });
  const newGroup = async (limits: GroupLimits) =>
    (await cgroups.create(limits).catch((err: unknown) => {
      throw new KilnError('ERR_INTERNAL', `cannot create the job's cgroup: ${(err as Error).message}`, {
        cause: err,
      });
    })) ?? processTreeGroup();
  const jobLimits = (req: SandboxRequest): GroupLimits => ({
    memoryBytes: req.limits.memoryMiB * 1024 * 1024,
    pids: req.limits.pids,
    cpus: req.limits.cpus ?? opts.cpus,
  });

  /** A sandbox of `name` on the host system, set up around an empty job directory, its waiter waiting. */
  async function makeReady(key: string): Promise<ReadySandbox> {
    // `profile[@disk MiB]#memory MiB`: the sandbox's /tmp is cut to the memory limit it is made for.
    const [name = '', size] = (key.split('#')[0] ?? '').split('@');
    const prof = await profile(name);
    const uid = opts.uid ?? prof.uid;
    const gid = opts.gid ?? prof.gid;
    await installed();
    const dir = join(resolve(opts.ready!.dir), randomBytes(6).toString('hex'));
    await mkdir(dir, { recursive: true, mode: 0o711 });
    let disk: JobDisk | undefined;
    try {
      disk = size === undefined ? undefined : await innerDisks.create(dir, Number(size));
      const jobDir = disk?.root ?? join(dir, 'job');
      await mkdir(jobDir, { recursive: true, mode: 0o711 });
      await assertReachable(dirname(jobDir), uid, gid);
      await prepareJobDir(jobDir, uid, gid);
      return await startWaiter(key, name, prof, uid, gid, dir, jobDir, disk);
    } catch (err) {
      await disk?.release().catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
  }

  async function startWaiter(
    key: string,
    name: string,
    prof: Profile,
    uid: number,
    gid: number,
    dir: string,
    jobDir: string,
    disk: JobDisk | undefined,
  ): Promise<ReadySandbox> {
    const seccomp = seccompFor(prof);
    const command = { argv: ['/bin/sh', '-c', WAITER], env: {}, cwd: '.' };
    // The limits of this profile's last job, most likely the next one's: then none are written at
    // its start. Its /tmp is cut to that memory limit, so a job with another one starts cold.
    const mem = Number(key.split('#')[1]);
    const limits = { ...(lastLimits.get(name) ?? WAITING), memoryBytes: mem * 1024 * 1024 };
    const args = bwrapArgs(prof, command, {
      jobDir,
      statusFd: FD.status,
      seccompFd: seccomp ? FD.seccomp : undefined,
      tmpfsMaxMiB: limits.memoryBytes / (1024 * 1024),
      ...(disk?.tmp !== undefined ? { tmpDir: disk.tmp } : {}),
    });
    const group = await newGroup(limits);
    let fifos: Fifo[] | undefined;
    try {
      fifos = await pipes(uid, gid);
      const launched = await launch(
        { ...via, bwrapPath, uid, gid, ...splitArgs(args, command.argv), seccomp, fifos, waiter: true },
        group,
      );
      let said = '';
      let up: () => void = () => undefined;
      const isUp = new Promise<void>((r) => (up = r));
      const answered = drain(launched.back!, (c) => {
        said += c.toString('utf8');
        if (said.includes(READY)) up();
      });
      const ended = launched.exit.then((e) => {
        throw new Error(`the sandbox ended before it was ready (${e.code ?? e.sig}): ${launched.errTail()}`);
      });
      await Promise.race([isUp, ended]);
      const s = {
        key,
        profile: name,
        jobDir,
        dir,
        group,
        limits,
        fifos,
        launched,
        answers: () => said,
        answered,
      };
      return disk ? { ...s, disk } : s;
    } catch (err) {
      await group.remove().catch(() => undefined);
      for (const f of fifos ?? []) f.close();
      throw err;
    }
  }

  /** Ends a ready sandbox that no job used: an empty program ends the waiter; then its group, disk and directory go. */
  async function dispose(s: ReadySandbox): Promise<void> {
    s.launched.program?.end();
    await s.group.remove().catch((err: unknown) => log(`kiln: ready sandbox: ${(err as Error).message}`));
    for (const f of s.fifos ?? []) f.close();
    await s.disk?.release().catch((err: unknown) => log(`kiln: ready sandbox: ${(err as Error).message}`));
    await rm(s.dir, { recursive: true, force: true });
  }

  const innerDisks = opts.ready?.disks ?? PLAIN_DISKS;
  /** The disk size of each profile's most recent job. */
  const lastDisk = new Map<string, number>();
  /** The memory limit (MiB) of each profile's most recent job, or a job's default. */
  const memOf = (name: string): number =>
    Math.round((lastLimits.get(name) ?? WAITING).memoryBytes / (1024 * 1024));
  /** Ready sandboxes whose disk a job holds, by their job directory, until the job runs. */
  const claimed = new Map<string, ReadySandbox>();
  const readyDisks: JobDisks = {
    async create(dir, sizeMiB) {
      lastDisk.set(DEFAULT_PROFILE, sizeMiB);
      const key = `${DEFAULT_PROFILE}@${sizeMiB}#${memOf(DEFAULT_PROFILE)}`;
      const s = pool?.take(key);
      if (!s?.disk) return innerDisks.create(dir, sizeMiB);
      claimed.set(s.jobDir, s);
      const disk = s.disk;
      let released: Promise<void> | undefined;
      return {
        root: s.jobDir,
        ...(disk.tmp !== undefined ? { tmp: disk.tmp } : {}),
        hitLimit: () => disk.hitLimit(),
        release: () =>
          (released ??= (async () => {
            // Never run (the job failed before): its waiter ends with it.
            if (claimed.delete(s.jobDir)) s.launched.program?.end();
            await s.group
              .remove()
              .catch((err: unknown) => log(`kiln: ready sandbox: ${(err as Error).message}`));
            for (const f of s.fifos ?? []) f.close();
            await disk.release();
            await rm(s.dir, { recursive: true, force: true });
            pool?.refill(key);
          })()),
      };
    },
    sweep: (workDir) => innerDisks.sweep(workDir),
    close: () => innerDisks.close(),
  };

  /** The limits of each profile's most recent job. */
  const lastLimits = new Map<string, GroupLimits>();
  const pool = opts.ready ? createReadyPool(opts.ready.count ?? 2, makeReady, dispose, log) : null;

  /** Moves every top-level entry of `from` into `to` (one file system: renames only). */
  async function moveEntries(from: string, to: string): Promise<void> {
    for (const name of await readdir(from)) await rename(join(from, name), join(to, name));
  }

  /** Runs `req` in the ready sandbox `s`; null when its directory cannot be moved there (another file system). */
  async function runReady(
    s: ReadySandbox,
    req: SandboxRequest,
    prof: Profile,
    clock: ReturnType<typeof stepClock>,
  ): Promise<SandboxResult | null> {
    const uid = opts.uid ?? prof.uid;
    const gid = opts.gid ?? prof.gid;
    const jobDir = resolve(req.jobDir);
    const env = checkCommand(prof, req, jobDir);
    await prepareJobDir(jobDir, uid, gid);
    try {
      await moveEntries(jobDir, s.jobDir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
      await moveEntries(s.jobDir, jobDir);
      return null;
    }
    // While the job runs, its directory's path leads to where the sandbox sees the files.
    const mode = (await stat(jobDir)).mode & 0o7777;
    await rmdir(jobDir);
    await symlink(s.jobDir, jobDir);
    try {
      return await runWaiter(s, req, prof, clock, env);
    } finally {
      // Every process of the job is gone (or the group was killed): its files go back where they were.
      if ((await lstat(jobDir)).isSymbolicLink()) await unlink(jobDir);
      await mkdir(jobDir, { mode });
      await chmod(jobDir, mode);
      await chown(jobDir, uid, gid);
      await moveEntries(s.jobDir, jobDir);
      for (const f of s.fifos ?? []) f.close();
      // The ready sandbox's own (now empty) directory goes after the answer; the next one is made.
      void rm(s.dir, { recursive: true, force: true }).catch((err: unknown) =>
        log(`kiln: ready sandbox ${s.dir}: ${(err as Error).message}`),
      );
      pool?.refill(s.key);
    }
  }

  /** The job of `req` in the ready sandbox `s`, whose /job holds its files: the waiter becomes it. */
  async function runWaiter(
    s: ReadySandbox,
    req: SandboxRequest,
    prof: Profile,
    clock: ReturnType<typeof stepClock>,
    checkedEnv?: Record<string, string>,
  ): Promise<SandboxResult> {
    const env = checkedEnv ?? checkCommand(prof, req, s.jobDir);
    let emptied = false;
    try {
      if (!checkedEnv) await prepareJobDir(s.jobDir, opts.uid ?? prof.uid, opts.gid ?? prof.gid);
      const limits = jobLimits(req);
      lastLimits.set(req.profile, limits);
      if (!sameLimits(limits, s.limits)) await s.group.limit(limits);
      clock.lap('prepare');
      const x = s.launched;
      x.attach(req.onOutput);
      x.program!.end(jobProgram(req.argv, env, req.cwd));
      clock.lap('start');
      const r = await watch(req, s.group, x, clock.lap, log);
      emptied = true;
      await s.answered;
      if (s.answers().includes(BAD_CWD))
        throw new KilnError(
          'ERR_VALIDATION',
          `the sandbox could not be set up: cannot chdir to ${sandboxCwd(req.cwd)} (no such directory in the job)`,
        );
      return r;
    } finally {
      const removing = s.group
        .remove()
        .catch((err: unknown) => log(`kiln: job ${req.jobId}: ${(err as Error).message}`));
      if (!emptied) await removing; // else the empty group goes after the answer
    }
  }

  /** The same checks of argv, env and cwd as a cold start; the command's whole environment. */
  function checkCommand(prof: Profile, req: SandboxRequest, jobDir: string): Record<string, string> {
    bwrapArgs(prof, req, { jobDir });
    return sandboxEnv(prof, req.env);
  }

  async function run(req: SandboxRequest): Promise<SandboxResult> {
    if (req.signal.aborted)
      return { outcome: 'killed', exitCode: null, signal: null, oomKilled: false, durationMs: 0 };
    const clock = stepClock();
    const prof = await profile(req.profile);
    const held = claimed.get(resolve(req.jobDir));
    if (held) {
      claimed.delete(held.jobDir);
      // Its /tmp is cut to the memory limit it was made for.
      const fits = held.limits.memoryBytes === jobLimits(req).memoryBytes;
      if (!req.rootDir && req.profile === held.profile && fits) {
        const r = await runWaiter(held, req, prof, clock);
        return { ...r, steps: clock.steps };
      }
      // Another profile, memory limit or a toolchain root: the job keeps the disk, the waiting sandbox ends.
      held.launched.program?.end();
      await held.group
        .remove()
        .catch((err: unknown) => log(`kiln: ready sandbox: ${(err as Error).message}`));
    }
    // Through `disks`, a job's directory is a ready sandbox's own; moving files in is for other callers.
    const key = `${req.profile}#${req.limits.memoryMiB}`;
    const ready = !req.rootDir && !opts.ready?.disks ? pool?.take(key) : null;
    // A ready sandbox's /tmp is cut to the memory limit it was made for: another one starts cold.
    if (ready && ready.limits.memoryBytes !== jobLimits(req).memoryBytes) await dispose(ready);
    else if (ready) {
      const r = await runReady(ready, req, prof, clock).catch(async (err: unknown) => {
        await dispose(ready);
        throw err;
      });
      if (r) return { ...r, steps: clock.steps };
      await dispose(ready);
    }
    return runCold(req, prof, clock);
  }

  async function runCold(
    req: SandboxRequest,
    prof: Profile,
    clock: ReturnType<typeof stepClock>,
  ): Promise<SandboxResult> {
    const uid = opts.uid ?? prof.uid;
    const gid = opts.gid ?? prof.gid;
    await installed();
    const jobDir = resolve(req.jobDir);
    const root = req.rootDir
      ? { dir: resolve(req.rootDir), entries: await rootEntries(resolve(req.rootDir), uid, gid) }
      : undefined;
    const seccomp = seccompFor(prof);
    const args = bwrapArgs(prof, req, {
      jobDir,
      root,
      statusFd: FD.status,
      seccompFd: seccomp ? FD.seccomp : undefined,
      tmpfsMaxMiB: req.limits.memoryMiB,
      ...(req.tmpDir !== undefined ? { tmpDir: req.tmpDir } : {}),
    });
    await prepareJobDir(jobDir, uid, gid);
    clock.lap('prepare');
    const limits = jobLimits(req);
    lastLimits.set(req.profile, limits);
    const group = await newGroup(limits);
    clock.lap('cgroup');
    let fifos: Fifo[] | undefined;
    let emptied = false;
    try {
      fifos = await pipes(uid, gid);
      clock.lap('pipes');
      const x = await launch(
        { ...via, bwrapPath, uid, gid, ...splitArgs(args, req.argv), seccomp, fifos },
        group,
      );
      x.attach(req.onOutput);
      clock.lap('start');
      const r = await watch(req, group, x, clock.lap, log);
      emptied = true;
      return { ...r, steps: clock.steps };
    } finally {
      for (const f of fifos ?? []) f.close();
      const removing = group
        .remove()
        .catch((err: unknown) => log(`kiln: job ${req.jobId}: ${(err as Error).message}`));
      if (!emptied) await removing; // else the empty group goes after the answer
    }
  }

  return {
    name: 'bwrap',
    disks: opts.ready ? readyDisks : innerDisks,
    run,
    prepare: async (name, limits) => {
      if (limits) {
        lastLimits.set(name, {
          memoryBytes: limits.memoryMiB * 1024 * 1024,
          pids: limits.pids,
          cpus: limits.cpus ?? opts.cpus,
        });
        lastDisk.set(name, limits.diskMiB);
      }
      const disk = opts.ready?.disks ? `@${lastDisk.get(name) ?? LIMIT_DEFAULTS.diskMiB}` : '';
      await pool?.prepare(`${name}${disk}#${memOf(name)}`);
    },
    close: async () => {
      await pool?.close();
      await cgroups.close();
    },
  };
}
