/**
 * Runs a compiler command on this machine, as if `kiln cc` were not there: the compiler's own
 * output bytes, unchanged, and its exit code. Used for compiles that are not distributable and
 * for fallbacks when the farm fails.
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import type { Writable } from 'node:stream';
import { spawnable } from './spawn-command.ts';
import { errnoName, type Front } from './front-steps.ts';

export interface RunLocalOptions {
  /** Working directory of the compiler. */
  cwd: string;
  /**
   * Where the compiler's stdout goes. A stream with a numeric `fd` (process.stdout, an
   * fs.WriteStream) is handed to the compiler itself, so a terminal stays a terminal (colours);
   * any other stream receives the bytes through a pipe.
   */
  stdout: Writable;
  /** Where the compiler's stderr goes, as for `stdout`. */
  stderr: Writable;
  /** Environment of the compiler. @default process.env */
  env?: NodeJS.ProcessEnv;
  /** Aborting sends SIGTERM to the compiler. */
  signal?: AbortSignal;
  /**
   * The native front (client/cc/front-steps.ts): when given, it runs the compiler with its own
   * stdin, stdout and stderr (the terminal itself, colours as without kiln), and `stdout`,
   * `stderr` get only kiln's own messages. Not with `signal`.
   */
  front?: Front;
}

function fdOf(s: Writable): number | null {
  const fd = (s as { fd?: unknown }).fd;
  return typeof fd === 'number' && fd >= 0 ? fd : null;
}

/**
 * Runs `argv` (compiler first) and resolves to its exit code: 128 + N when killed by signal N,
 * 127 (with a message on stderr) when the compiler is not found, 126 when it cannot be run.
 */
export function runLocal(argv: string[], opts: RunLocalOptions): Promise<number> {
  const [cmd, ...args] = argv;
  if (cmd === undefined) {
    opts.stderr.write('kiln cc: no compiler given\n');
    return Promise.resolve(127);
  }
  if (opts.front && process.platform !== 'win32') return byFront(opts.front, argv, cmd, opts);
  const outFd = fdOf(opts.stdout);
  const errFd = fdOf(opts.stderr);
  return new Promise((resolve) => {
    let settled = false;
    const finish = (code: number): void => {
      if (settled) return;
      settled = true;
      opts.signal?.removeEventListener('abort', onAbort);
      resolve(code);
    };
    const run = spawnable(cmd, args, process.platform, opts.env ?? process.env);
    const child = spawn(run.file, run.args, {
      ...run.options,
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['inherit', outFd ?? 'pipe', errFd ?? 'pipe'],
    });
    const onAbort = (): void => {
      child.kill('SIGTERM');
    };
    if (opts.signal?.aborted) onAbort();
    else opts.signal?.addEventListener('abort', onAbort, { once: true });
    child.stdout?.pipe(opts.stdout, { end: false });
    child.stderr?.pipe(opts.stderr, { end: false });
    child.on('error', (err: NodeJS.ErrnoException) => {
      const missing = err.code === 'ENOENT';
      opts.stderr.write(`kiln cc: ${cmd}: ${missing ? 'command not found' : err.message}\n`);
      finish(missing ? 127 : 126);
    });
    child.on('close', (code, signal) => {
      if (code !== null) finish(code);
      else finish(128 + (signal ? (constants.signals[signal] ?? 0) : 0));
    });
  });
}

async function byFront(front: Front, argv: string[], cmd: string, opts: RunLocalOptions): Promise<number> {
  const env = opts.env ?? process.env;
  const st = await front.run({
    argv,
    cwd: opts.cwd,
    env,
    stdin: 'inherit',
    stdout: 'inherit',
    stderr: 'inherit',
  });
  if (st.kind === 'exit') return st.value;
  if (st.kind === 'signal') return 128 + st.value;
  const missing = st.value === constants.errno.ENOENT;
  opts.stderr.write(
    `kiln cc: ${cmd}: ${missing ? 'command not found' : `spawn ${cmd} ${errnoName(st.value)}`}\n`,
  );
  return missing ? 127 : 126;
}
