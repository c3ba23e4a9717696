/**
 * The Linux sandbox runner: each job in a bubblewrap sandbox (builders/linux/bwrap-args.ts)
 * running as an unprivileged uid, inside its own cgroup (builders/linux/cgroup.ts).
 *
 * Start-up is race-free: a tiny shell, already running as the job's uid, waits on a pipe until
 * this process has moved it into the job's cgroup, then execs bwrap; so bwrap and everything it
 * starts is born inside the group. A stop (abort or time limit) sends SIGTERM to every process of
 * the job but bwrap's own monitor (whose death would SIGKILL the sandbox at once), waits
 * `limits.graceSec`, then kills the whole group. `run` resolves once every process is gone.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import { access } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import { resolve } from 'node:path';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Readable, Writable } from 'node:stream';
import { KilnError } from '../../protocol/errors.ts';
import type { SandboxRequest, SandboxResult, SandboxRunner } from '../core/sandbox.ts';
import { bwrapArgs } from './bwrap-args.ts';
import { createCgroupManager, type JobGroup } from './cgroup.ts';
import { takeFifos, type Fifo } from './fifo.ts';
import { prepareJobDir, rootEntries } from './job-dir.ts';
import { processTreeGroup } from './process-tree.ts';
import { DEFAULT_PROFILES_DIR, loadProfile, type Profile } from './profile.ts';
import { seccompFilter, seccompSupported } from './seccomp.ts';

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
  /** Where one-time notices go (cgroup fallback, no seccomp). @default console.warn */
  log?: (msg: string) => void;
}

/**
 * Descriptors of the started shell: 3 gate, 4 bwrap's JSON status, 5 the seccomp program, 6 bwrap's
 * options (`--args`: NUL-separated), so the sandbox's /proc/1/cmdline is `bwrap --args 6 -- <argv>`
 * and shows no host path, environment or id.
 */
const FD = { gate: 3, status: 4, seccomp: 5, args: 6 } as const;
/** Waits for "go" on the gate, then becomes bwrap (argv from "$@"). */
const GATE = `IFS= read -r go <&${FD.gate} && [ "$go" = go ] || exit 125; exec ${FD.gate}<&-; exec "$@"`;
const SIGNAL_NAMES = new Map<number, string>();
for (const [name, n] of Object.entries(osConstants.signals))
  if (!SIGNAL_NAMES.has(n)) SIGNAL_NAMES.set(n, name);

/** Reads a stream to its end, passing each chunk on. */
/** Reads `s` to its end; a promise from `onChunk` pauses the reading until it settles. */
async function drain(s: Readable, onChunk: (c: Buffer) => unknown): Promise<void> {
  s.on('data', (c: Buffer) => {
    const wait = onChunk(c);
    if (!(wait instanceof Promise)) return;
    s.pause();
    const resume = (): void => void s.resume();
    wait.then(resume, resume);
  });
  await once(s, 'close').catch(() => undefined);
}

/** Builds the bubblewrap runner. */
export function createBwrapRunner(opts: BwrapRunnerOptions = {}): SandboxRunner {
  const bwrapPath = opts.bwrapPath ?? '/usr/bin/bwrap';
  const profilesDir = opts.profilesDir ?? DEFAULT_PROFILES_DIR;
  const log = opts.log ?? ((m: string) => console.warn(m));
  const cgroups = createCgroupManager({ root: opts.cgroupRoot, parent: opts.cgroupParent, log });
  const profiles = new Map<string, Promise<Profile>>();
  const noted = new Set<string>();
  const noteOnce = (key: string, msg: string): void => {
    if (!noted.has(key)) log(msg);
    noted.add(key);
  };

  const filters = new Map<string, Buffer>();
  const filterOf = (arch: 'x64' | 'arm64', network: Profile['network']): Buffer => {
    const key = `${arch}/${network}`;
    let f = filters.get(key);
    if (!f) filters.set(key, (f = seccompFilter(arch, { network })));
    return f;
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

  async function run(req: SandboxRequest): Promise<SandboxResult> {
    if (req.signal.aborted)
      return { outcome: 'killed', exitCode: null, signal: null, oomKilled: false, durationMs: 0 };
    const prof = await profile(req.profile);
    const uid = opts.uid ?? prof.uid;
    const gid = opts.gid ?? prof.gid;
    await access(bwrapPath, fsConstants.X_OK).catch((err: unknown) => {
      throw new KilnError(
        'ERR_CONFIG',
        `bubblewrap is not installed (no executable ${bwrapPath}): install the Debian package "bubblewrap"`,
        { cause: err },
      );
    });
    const jobDir = resolve(req.jobDir);
    const root = req.rootDir
      ? { dir: resolve(req.rootDir), entries: await rootEntries(resolve(req.rootDir), uid, gid) }
      : undefined;
    const arch = process.arch;
    const seccomp = prof.seccomp && seccompSupported(arch) ? filterOf(arch, prof.network) : undefined;
    if (prof.seccomp && !seccomp)
      noteOnce('seccomp', `kiln: no seccomp table for ${process.arch}; sandboxes run without seccomp`);
    const args = bwrapArgs(prof, req, {
      jobDir,
      root,
      statusFd: FD.status,
      seccompFd: seccomp ? FD.seccomp : undefined,
      tmpfsMaxMiB: req.limits.memoryMiB,
    });
    await prepareJobDir(jobDir, uid, gid);
    const limits = {
      memoryBytes: req.limits.memoryMiB * 1024 * 1024,
      pids: req.limits.pids,
      cpus: req.limits.cpus ?? opts.cpus,
    };
    const group =
      (await cgroups.create(req.jobId, limits).catch((err: unknown) => {
        throw new KilnError('ERR_INTERNAL', `cannot create the job's cgroup: ${(err as Error).message}`, {
          cause: err,
        });
      })) ?? processTreeGroup();
    let fifos: Fifo[] | undefined;
    try {
      fifos = await takeFifos(2, uid, gid).catch((err: unknown) => {
        noteOnce(
          'fifo',
          `kiln: cannot make FIFOs (${(err as Error).message}); job output goes through sockets`,
        );
        return undefined;
      });
      const split = args.length - req.argv.length - 1;
      if (args[split] !== '--')
        throw new KilnError('ERR_INTERNAL', 'bwrap arguments end without the command');
      const launch = { uid, gid, options: args.slice(0, split), command: args.slice(split), seccomp, fifos };
      return await supervise(req, group, launch);
    } finally {
      for (const f of fifos ?? []) f.close();
      await group.remove().catch((err: unknown) => log(`kiln: job ${req.jobId}: ${(err as Error).message}`));
    }
  }

  interface Launch {
    uid: number;
    gid: number;
    /** bwrap's options, read from {@link FD.args}. */
    options: string[];
    /** `--` and the job's argv: what stays on bwrap's command line. */
    command: string[];
    /** The seccomp program, when the profile asks for one. */
    seccomp: Buffer | undefined;
    fifos: Fifo[] | undefined;
  }

  async function supervise(req: SandboxRequest, group: JobGroup, l: Launch): Promise<SandboxResult> {
    const [out, err] = l.fifos ?? [];
    let child: ChildProcess;
    try {
      child = spawn(
        '/bin/sh',
        ['-c', GATE, 'kiln-sandbox', bwrapPath, '--args', String(FD.args), ...l.command],
        {
          uid: l.uid,
          gid: l.gid,
          cwd: '/',
          env: { PATH: '/usr/bin:/bin' },
          stdio: [
            'ignore',
            out?.writeFd ?? 'pipe',
            err?.writeFd ?? 'pipe',
            'pipe',
            'pipe',
            l.seccomp ? 'pipe' : 'ignore',
            'pipe',
          ],
        },
      );
    } catch (e) {
      throw new KilnError('ERR_INTERNAL', `cannot start the sandbox: ${(e as Error).message}`, { cause: e });
    }
    const fds = child.stdio as unknown as (Readable | Writable | null | undefined)[];
    out?.closeWriteEnd();
    err?.closeWriteEnd();
    const t0 = performance.now();
    const exit = new Promise<{ code: number | null; sig: NodeJS.Signals | null }>((res, rej) => {
      child.once('exit', (code, sig) => res({ code, sig }));
      child.once('error', rej);
    });
    exit.catch(() => undefined);
    for (const i of [FD.gate, FD.status, FD.seccomp, FD.args]) fds[i]?.on('error', () => undefined);
    let errTail = '';
    const emit = (stream: 'stdout' | 'stderr', chunk: Buffer): void | Promise<void> => {
      if (stream === 'stderr') errTail = (errTail + chunk.toString('utf8')).slice(-4096);
      try {
        return req.onOutput(stream, chunk);
      } catch {
        // the consumer's failure is not the job's
      }
    };
    const outputs = Promise.all([
      drain(out?.reader() ?? (child.stdout as Readable), (c) => emit('stdout', c)),
      drain(err?.reader() ?? (child.stderr as Readable), (c) => emit('stderr', c)),
    ]);
    let status = '';
    const statusDone = drain(fds[FD.status] as Readable, (c) => (status += c.toString('utf8')));

    const pid = child.pid;
    if (pid === undefined) {
      const e = await exit.then(
        () => new Error('no pid'),
        (x: unknown) => x as Error,
      );
      throw new KilnError('ERR_INTERNAL', `cannot start the sandbox: ${e.message}`, { cause: e });
    }
    try {
      await group.add(pid);
    } catch (e) {
      child.kill('SIGKILL');
      await exit.catch(() => undefined);
      throw new KilnError('ERR_INTERNAL', `cannot move the job into its cgroup: ${(e as Error).message}`, {
        cause: e,
      });
    }
    (fds[FD.args] as Writable).end(Buffer.from(l.options.map((o) => `${o}\0`).join('')));
    if (l.seccomp) (fds[FD.seccomp] as Writable).end(l.seccomp);
    (fds[FD.gate] as Writable).end('go\n');

    let outcome: SandboxResult['outcome'] = 'exited';
    let stopping: Promise<void> | undefined;
    const graceOver = new AbortController();
    const stop = (why: 'killed' | 'timed_out'): void => {
      if (stopping) return;
      outcome = why;
      stopping = (async () => {
        await group.signal('SIGTERM', new Set([pid]));
        const late = await Promise.race([
          exit.then(
            () => false,
            () => false,
          ),
          sleep(req.limits.graceSec * 1000, true, { signal: graceOver.signal }).catch(() => false),
        ]);
        if (late) await group.killAll();
      })().catch((e: unknown) => log(`kiln: stopping job ${req.jobId}: ${(e as Error).message}`));
    };
    const timer = setTimeout(() => stop('timed_out'), req.limits.timeoutSec * 1000);
    const onAbort = (): void => stop('killed');
    req.signal.addEventListener('abort', onAbort, { once: true });
    if (req.signal.aborted) onAbort();

    let ended: { code: number | null; sig: NodeJS.Signals | null };
    try {
      ended = await exit;
    } catch (e) {
      throw new KilnError('ERR_INTERNAL', `cannot start the sandbox: ${(e as Error).message}`, { cause: e });
    } finally {
      clearTimeout(timer);
      req.signal.removeEventListener('abort', onAbort);
      graceOver.abort();
    }
    await stopping;
    // bwrap is gone, and its pid-namespace init with it; anything still in the group is a straggler.
    const oomKilled = await group.oomKilled();
    await group.remove().catch((e: unknown) => {
      throw new KilnError('ERR_INTERNAL', `the job's processes did not go away: ${(e as Error).message}`, {
        cause: e,
      });
    });
    // Every writer is dead now, so the pipes reach their end; a bound keeps a kernel oddity from hanging us.
    const bound = new AbortController();
    await Promise.race([
      Promise.all([outputs, statusDone]),
      sleep(5000, undefined, { signal: bound.signal }).catch(() => undefined),
    ]);
    bound.abort();
    const durationMs = Math.round(performance.now() - t0);
    return result(ended, { outcome, oomKilled, durationMs, status, errTail });
  }

  return { name: 'bwrap', run };
}

/** Turns bwrap's exit into a result; throws when bwrap failed before the command could start. */
function result(
  ended: { code: number | null; sig: NodeJS.Signals | null },
  r: {
    outcome: SandboxResult['outcome'];
    oomKilled: boolean;
    durationMs: number;
    status: string;
    errTail: string;
  },
): SandboxResult {
  let exitCode = ended.code;
  let signal: string | null = ended.sig;
  const recorded = /"exit-code":\s*(\d+)/.exec(r.status);
  if (!recorded && r.outcome === 'exited' && !r.oomKilled && ended.sig === null) {
    const line = r.errTail.split('\n').findLast((s) => s.startsWith('bwrap: ')) ?? '';
    if (line.startsWith('bwrap: execvp ')) {
      exitCode = line.includes('No such file') ? 127 : 126; // the command itself is missing: the job's failure
    } else {
      const code = line.includes("Can't chdir") ? 'ERR_VALIDATION' : 'ERR_INTERNAL';
      throw new KilnError(
        code,
        `the sandbox could not be set up: ${line || `bwrap exited with ${ended.code}`}`,
      );
    }
  }
  // bwrap reports a command killed by signal N as exit status 128+N, as a shell does.
  if (exitCode !== null && exitCode > 128 && SIGNAL_NAMES.has(exitCode - 128)) {
    signal = SIGNAL_NAMES.get(exitCode - 128) ?? null;
    exitCode = null;
  }
  return { outcome: r.outcome, exitCode, signal, oomKilled: r.oomKilled, durationMs: r.durationMs };
}
