/**
 * Starting one bubblewrap sandbox, for bwrap-runner.ts; seeing it through is bwrap-watch.ts.
 *
 * Start-up is race-free: the process that becomes bwrap waits at a gate until this process has
 * moved it into the job's cgroup, so bwrap and everything it starts is born inside the group.
 * Where it can, the sandbox launcher (builders/linux/launcher.ts: a small long-lived root
 * process) starts it, with the job's output on FIFOs: then this large process does not fork per
 * job. Otherwise (no Perl, no FIFOs) a tiny shell spawned from here, already running as the job's
 * uid, is the gate, and then execs bwrap.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { Writable, type Readable } from 'node:stream';
import { KilnError } from '../../protocol/errors.ts';
import type { SandboxRequest } from '../core/sandbox.ts';
import type { JobGroup } from './cgroup.ts';
import { takeFifos, type Fifo } from './fifo.ts';
import { launcher as sharedLauncher, type Launcher } from './launcher.ts';
import { WAITER_FD } from './waiter.ts';

/**
 * Descriptors of the started shell: 3 gate, 4 bwrap's JSON status, 5 the seccomp program, 6 bwrap's
 * options (`--args`: NUL-separated), so the sandbox's /proc/1/cmdline is `bwrap --args 6 -- <argv>`
 * and shows no host path, environment or id. A waiter's pipes follow (builders/linux/waiter.ts).
 */
export const FD = { gate: 3, status: 4, seccomp: 5, args: 6 } as const;
/** Waits for "go" on the gate, then becomes bwrap (argv from "$@"). */
const GATE = `IFS= read -r go <&${FD.gate} && [ "$go" = go ] || exit 125; exec ${FD.gate}<&-; exec "$@"`;
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
  /** The sandbox launcher to use. @default this process's (null: spawn from here) */
  launcher?: Launcher | null;
}

export type Ended = { code: number | null; sig: NodeJS.Signals | null };
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
  /** Resolves when the output pipes (and a spawned gate's status pipe) have reached their end. */
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

/** Starts bwrap for `l` inside `group`: through the launcher where it can, else from here. */
export async function launch(l: Launch, group: JobGroup): Promise<Launched> {
  const via = l.launcher === undefined ? sharedLauncher() : l.launcher;
  const [out, err] = l.fifos ?? [];
  if (!via || !out || !err) return spawnGate(l, group);
  const extra = l.waiter ? await takeFifos(2, l.uid, l.gid, via).catch(() => null) : [];
  if (!extra) return spawnGate(l, group);
  const [program, back] = extra;
  const own = [out, err, ...extra];
  let child;
  try {
    child = await via.start({
      uid: l.uid,
      gid: l.gid,
      fds: [
        [1, out.writeFd, '>'],
        [2, err.writeFd, '>'],
        ...(program && back
          ? ([
              [WAITER_FD.program, program.readFd, '<'],
              [WAITER_FD.back, back.writeFd, '>'],
            ] as const)
          : []),
      ],
      statusFd: FD.status,
      args: { fd: FD.args, data: options(l) },
      ...(l.seccomp ? { seccomp: { fd: FD.seccomp, data: l.seccomp } } : {}),
      argv: [l.bwrapPath, '--args', String(FD.args), ...l.command],
    });
  } catch (e) {
    for (const f of extra) f.close();
    throw new KilnError('ERR_INTERNAL', `cannot start the sandbox: ${(e as Error).message}`, { cause: e });
  }
  // The child has its own ends now: this process keeps only the ones it reads or writes.
  out.closeWriteEnd();
  err.closeWriteEnd();
  program?.closeReadEnd();
  back?.closeWriteEnd();
  const startedAt = performance.now();
  let status = '';
  const exit = child.ended.then((e) => {
    status = e.status;
    return { code: e.code, sig: e.sig };
  });
  const o = output(out.reader(), err.reader());
  try {
    await group.add(child.pid);
  } catch (e) {
    child.cancel();
    await exit;
    for (const f of own) f.close();
    throw new KilnError('ERR_INTERNAL', `cannot move the job into its cgroup: ${(e as Error).message}`, {
      cause: e,
    });
  }
  child.go();
  return {
    pid: child.pid,
    exit,
    attach: o.attach,
    ...(program && back ? { program: heldOpen(program.writer(), exit), back: back.reader() } : {}),
    drained: o.drained,
    status: () => status,
    errTail: o.errTail,
    startedAt,
  };
}

/**
 * The program pipe of a waiter started by the launcher: what is written goes through at once, but
 * the FIFO is closed only once the sandbox has ended. The waiter reopens it (/dev/fd/7), and a
 * FIFO cannot be opened for reading while it has no writer: were it closed as soon as written, a
 * waiter a moment late would wait forever. It runs the program without waiting for its end.
 */
function heldOpen(w: Writable, ended: Promise<unknown>): Writable {
  w.on('error', () => undefined);
  void ended.finally(() => w.destroy());
  return new Writable({
    write: (chunk, _enc, done) => void w.write(chunk, () => done()),
    final: (done) => done(),
  });
}

/** bwrap's options as `--args` reads them: each ends with a NUL. */
const options = (l: Launch): Buffer => Buffer.from(l.options.map((o) => `${o}\0`).join(''));

/** The job's output: handed to `attach`'s consumer (what came before it first), stderr's tail kept. */
function output(
  stdout: Readable,
  stderr: Readable,
  more: Promise<unknown>[] = [],
): Pick<Launched, 'attach' | 'drained' | 'errTail'> {
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
  return {
    attach(onOutput) {
      sink = onOutput;
      for (const [s, c] of early.splice(0)) void emit(s, c);
    },
    drained: Promise.all([
      drain(stdout, (c) => emit('stdout', c)),
      drain(stderr, (c) => emit('stderr', c)),
      ...more,
    ]),
    errTail: () => errTail,
  };
}

/** Spawns the gate shell, moves it into `group`, hands it the seccomp program and lets it become bwrap. */
async function spawnGate(l: Launch, group: JobGroup): Promise<Launched> {
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
  let status = '';
  const o = output(out?.reader() ?? (child.stdout as Readable), err?.reader() ?? (child.stderr as Readable), [
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
  (fds[FD.args] as Writable).end(options(l));
  if (l.seccomp) (fds[FD.seccomp] as Writable).end(l.seccomp);
  (fds[FD.gate] as Writable).end('go\n');
  return {
    pid,
    exit,
    attach: o.attach,
    ...(l.waiter
      ? { program: fds[WAITER_FD.program] as Writable, back: fds[WAITER_FD.back] as Readable }
      : {}),
    drained: o.drained,
    status: () => status,
    errTail: o.errTail,
    startedAt,
  };
}
