/**
 * Starting one bubblewrap sandbox and seeing it through to its end, for bwrap-runner.ts.
 *
 * Start-up is race-free: a tiny shell, already running as the job's uid, waits on a pipe until
 * this process has moved it into the job's cgroup, then execs bwrap; so bwrap and everything it
 * starts is born inside the group. A stop (abort or time limit) sends SIGTERM to every process of
 * the job but bwrap's own monitor (whose death would SIGKILL the sandbox at once), waits
 * `limits.graceSec`, then kills the whole group. `watch` resolves once every process is gone
 * (the empty group is the caller's to remove).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { constants as osConstants } from 'node:os';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Readable, Writable } from 'node:stream';
import { KilnError } from '../../protocol/errors.ts';
import type { SandboxRequest, SandboxResult } from '../core/sandbox.ts';
import type { JobGroup } from './cgroup.ts';
import type { Fifo } from './fifo.ts';
import { WAITER_FD } from './waiter.ts';

/**
 * Descriptors of the started shell: 3 gate, 4 bwrap's JSON status, 5 the seccomp program, 6 bwrap's
 * options (`--args`: NUL-separated), so the sandbox's /proc/1/cmdline is `bwrap --args 6 -- <argv>`
 * and shows no host path, environment or id. A waiter's pipes follow (builders/linux/waiter.ts).
 */
export const FD = { gate: 3, status: 4, seccomp: 5, args: 6 } as const;
/** Waits for "go" on the gate, then becomes bwrap (argv from "$@"). */
const GATE = `IFS= read -r go <&${FD.gate} && [ "$go" = go ] || exit 125; exec ${FD.gate}<&-; exec "$@"`;
const SIGNAL_NAMES = new Map<number, string>();
for (const [name, n] of Object.entries(osConstants.signals))
  if (!SIGNAL_NAMES.has(n)) SIGNAL_NAMES.set(n, name);

/** What starting a sandbox needs. */
export interface Launch {
  bwrapPath: string;
  uid: number;
  gid: number;
  /** bwrap's options, read from {@link FD.args}. */
  options: string[];
  /** `--` and the command: what stays on bwrap's command line. */
  command: string[];
  /** The seccomp program, when the profile asks for one. */
  seccomp: Buffer | undefined;
  fifos: Fifo[] | undefined;
  /** Also hand the sandbox the waiter's pipes (builders/linux/waiter.ts). */
  waiter?: boolean;
}

type Ended = { code: number | null; sig: NodeJS.Signals | null };
type OnOutput = SandboxRequest['onOutput'];

/** A started sandbox. */
export interface Launched {
  pid: number;
  exit: Promise<Ended>;
  /** Output goes to `onOutput` from now on; what came earlier is handed over first. */
  attach(onOutput: OnOutput): void;
  /** For a waiter: the pipe its job program is written to, and the one it answers on. */
  program?: Writable;
  back?: Readable;
  /** Resolves when the output and status pipes have reached their end. */
  drained: Promise<unknown>;
  status(): string;
  errTail(): string;
  startedAt: number;
}

/** Reads `s` to its end; a promise from `onChunk` pauses the reading until it settles. */
export async function drain(s: Readable, onChunk: (c: Buffer) => unknown): Promise<void> {
  s.on('data', (c: Buffer) => {
    const wait = onChunk(c);
    if (!(wait instanceof Promise)) return;
    s.pause();
    const resume = (): void => void s.resume();
    wait.then(resume, resume);
  });
  await once(s, 'close').catch(() => undefined);
}

/** Spawns the gate shell, moves it into `group`, hands it the seccomp program and lets it become bwrap. */
export async function launch(l: Launch, group: JobGroup): Promise<Launched> {
  const [out, err] = l.fifos ?? [];
  const stdio: ('ignore' | 'pipe' | number)[] = [
    'ignore',
    out?.writeFd ?? 'pipe',
    err?.writeFd ?? 'pipe',
    'pipe',
    'pipe',
    l.seccomp ? 'pipe' : 'ignore',
    'pipe',
  ];
  if (l.waiter) stdio[WAITER_FD.program] = stdio[WAITER_FD.back] = 'pipe';
  let child: ChildProcess;
  try {
    child = spawn(
      '/bin/sh',
      ['-c', GATE, 'kiln-sandbox', l.bwrapPath, '--args', String(FD.args), ...l.command],
      {
        uid: l.uid,
        gid: l.gid,
        cwd: '/',
        env: { PATH: '/usr/bin:/bin' },
        stdio,
      },
    );
  } catch (e) {
    throw new KilnError('ERR_INTERNAL', `cannot start the sandbox: ${(e as Error).message}`, { cause: e });
  }
  const fds = child.stdio as unknown as (Readable | Writable | null | undefined)[];
  out?.closeWriteEnd();
  err?.closeWriteEnd();
  const startedAt = performance.now();
  const exit = new Promise<Ended>((res, rej) => {
    child.once('exit', (code, sig) => res({ code, sig }));
    child.once('error', rej);
  });
  exit.catch(() => undefined);
  for (const i of [FD.gate, FD.status, FD.seccomp, FD.args, WAITER_FD.program, WAITER_FD.back])
    fds[i]?.on('error', () => undefined);
  let errTail = '';
  let sink: OnOutput | null = null;
  const early: ['stdout' | 'stderr', Buffer][] = [];
  const emit = (stream: 'stdout' | 'stderr', chunk: Buffer): void | Promise<void> => {
    if (stream === 'stderr') errTail = (errTail + chunk.toString('utf8')).slice(-4096);
    if (!sink) return void early.push([stream, chunk]);
    try {
      // A promise asks to stop reading the job's output until it settles (the log's backlog).
      return sink(stream, chunk);
    } catch {
      // the consumer's failure is not the job's
    }
  };
  let status = '';
  const drained = Promise.all([
    drain(out?.reader() ?? (child.stdout as Readable), (c) => emit('stdout', c)),
    drain(err?.reader() ?? (child.stderr as Readable), (c) => emit('stderr', c)),
    drain(fds[FD.status] as Readable, (c) => (status += c.toString('utf8'))),
  ]);
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
  return {
    pid,
    exit,
    attach(onOutput) {
      sink = onOutput;
      for (const [s, c] of early.splice(0)) void emit(s, c);
    },
    ...(l.waiter
      ? { program: fds[WAITER_FD.program] as Writable, back: fds[WAITER_FD.back] as Readable }
      : {}),
    drained,
    status: () => status,
    errTail: () => errTail,
    startedAt,
  };
}

/**
 * Sees a started sandbox through: the time limit and stops of `req`, then, once bwrap is gone,
 * the OOM verdict and the group emptied and removed, and the pipes read to their end.
 */
export async function watch(
  req: SandboxRequest,
  group: JobGroup,
  x: Launched,
  lap: (step: string) => void,
  log: (m: string) => void,
): Promise<SandboxResult> {
  let outcome: SandboxResult['outcome'] = 'exited';
  let stopping: Promise<void> | undefined;
  const graceOver = new AbortController();
  const stop = (why: 'killed' | 'timed_out'): void => {
    if (stopping) return;
    outcome = why;
    stopping = (async () => {
      await group.signal('SIGTERM', new Set([x.pid]));
      const late = await Promise.race([
        x.exit.then(
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

  let ended: Ended;
  try {
    ended = await x.exit;
  } catch (e) {
    throw new KilnError('ERR_INTERNAL', `cannot start the sandbox: ${(e as Error).message}`, { cause: e });
  } finally {
    clearTimeout(timer);
    req.signal.removeEventListener('abort', onAbort);
    graceOver.abort();
  }
  lap('run');
  await stopping;
  // bwrap is gone, and its pid-namespace init with it; anything still in the group is a straggler.
  // The group itself is removed by the caller, after the answer (every process of it is gone).
  const oomKilled = await group.oomKilled();
  await group.settle().catch((e: unknown) => {
    throw new KilnError('ERR_INTERNAL', `the job's processes did not go away: ${(e as Error).message}`, {
      cause: e,
    });
  });
  lap('settle');
  // Every writer is dead now, so the pipes reach their end; a bound keeps a kernel oddity from hanging us.
  const bound = new AbortController();
  await Promise.race([x.drained, sleep(5000, undefined, { signal: bound.signal }).catch(() => undefined)]);
  bound.abort();
  lap('drain');
  const durationMs = Math.round(performance.now() - x.startedAt);
  return result(ended, { outcome, oomKilled, durationMs, status: x.status(), errTail: x.errTail() });
}

/** Turns bwrap's exit into a result; throws when bwrap failed before the command could start. */
function result(
  ended: Ended,
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
