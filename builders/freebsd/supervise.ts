/**
 * One `pot exec` of a job: its output streamed as it comes, the time limit and stop (SIGTERM to
 * every process of the jail, the grace period, then SIGKILL to all of them, through `pkill -j`),
 * and its exit status. The status pot exec returns is the command's, or 128+N when a signal ended
 * it (exec.sh returns what jexec returned, and jexec became the command).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { constants as osConstants } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Readable } from 'node:stream';
import { KilnError } from '../../protocol/errors.ts';
import type { SandboxRequest, SandboxResult } from '../core/sandbox.ts';
import type { HostTools } from './host-tools.ts';
import { hostCmd, type ToolCall } from './pot-commands.ts';

const SIGNAL_NAMES = new Map<number, string>();
for (const [name, n] of Object.entries(osConstants.signals))
  if (!SIGNAL_NAMES.has(n)) SIGNAL_NAMES.set(n, name);

export interface Supervised {
  outcome: SandboxResult['outcome'];
  exitCode: number | null;
  signal: string | null;
  /** Resolves when both output pipes reached their end (after every process of the jail died). */
  drained: Promise<void>;
  /** The last 4 KiB of stderr (to tell pot's own errors from the job's). */
  errTail(): string;
}

export async function supervise(
  tools: HostTools,
  jail: string,
  exec: ToolCall,
  req: SandboxRequest,
  log: (m: string) => void,
): Promise<Supervised> {
  const child = spawn(tools.paths.pot, exec.args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const exit = new Promise<{ code: number | null }>((res, rej) => {
    child.once('exit', (code) => res({ code }));
    child.once('error', rej);
  });
  exit.catch(() => undefined);
  let tail = '';
  const emit = (stream: 'stdout' | 'stderr', chunk: Buffer): void | Promise<void> => {
    if (stream === 'stderr') tail = (tail + chunk.toString('utf8')).slice(-4096);
    try {
      return req.onOutput(stream, chunk);
    } catch {
      // the consumer's failure is not the job's
    }
  };
  // A promise from the consumer pauses the reading until it settles (the job's writes block).
  const drain = async (s: Readable, name: 'stdout' | 'stderr'): Promise<void> => {
    s.on('data', (c: Buffer) => {
      const wait = emit(name, c);
      if (!wait) return;
      s.pause();
      const resume = (): void => void s.resume();
      wait.then(resume, resume);
    });
    await once(s, 'close').catch(() => undefined);
  };
  const drained = Promise.all([drain(child.stdout!, 'stdout'), drain(child.stderr!, 'stderr')]).then(
    () => undefined,
  );

  let outcome: SandboxResult['outcome'] = 'exited';
  let stopping: Promise<void> | undefined;
  const graceOver = new AbortController();
  const stop = (why: 'killed' | 'timed_out'): void => {
    if (stopping) return;
    outcome = why;
    stopping = (async () => {
      await tools.must(hostCmd.signalAll(jail, 'TERM'), [0, 1]);
      const late = await Promise.race([
        exit.then(
          () => false,
          () => false,
        ),
        sleep(req.limits.graceSec * 1000, true, { signal: graceOver.signal }).catch(() => false),
      ]);
      if (late) await tools.must(hostCmd.signalAll(jail, 'KILL'), [0, 1]);
    })().catch((e: unknown) => log(`stopping job ${req.jobId}: ${(e as Error).message}`));
  };
  const timer = setTimeout(() => stop('timed_out'), req.limits.timeoutSec * 1000);
  const onAbort = (): void => stop('killed');
  req.signal.addEventListener('abort', onAbort, { once: true });
  if (req.signal.aborted) onAbort();
  let ended: { code: number | null };
  try {
    ended = await exit;
  } catch (e) {
    throw new KilnError('ERR_CONFIG', `cannot run ${tools.paths.pot}: ${(e as Error).message}`, { cause: e });
  } finally {
    clearTimeout(timer);
    req.signal.removeEventListener('abort', onAbort);
    graceOver.abort();
  }
  await stopping;
  let exitCode = ended.code;
  let signal: string | null = null;
  if (exitCode !== null && exitCode > 128 && SIGNAL_NAMES.has(exitCode - 128)) {
    signal = SIGNAL_NAMES.get(exitCode - 128) ?? null;
    exitCode = null;
  }
  return { outcome, exitCode, signal, drained, errTail: () => tail };
}
