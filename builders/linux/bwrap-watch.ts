/**
 * Seeing a started sandbox (builders/linux/bwrap-launch.ts) through to its end: its time limit and
 * stops, then the OOM verdict, the group emptied and the pipes read to their end, and bwrap's exit
 * turned into the job's result.
 *
 * A stop (abort or time limit) sends SIGTERM to every process of the job but bwrap's own monitor
 * (whose death would SIGKILL the sandbox at once), waits `limits.graceSec`, then kills the whole
 * group. `watch` resolves once every process is gone (the empty group is the caller's to remove).
 */
import { constants as osConstants } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { KilnError } from '../../protocol/errors.ts';
import type { SandboxRequest, SandboxResult } from '../core/sandbox.ts';
import type { Ended, Launched } from './bwrap-launch.ts';
import type { JobGroup } from './cgroup.ts';

const SIGNAL_NAMES = new Map<number, string>();
for (const [name, n] of Object.entries(osConstants.signals))
  if (!SIGNAL_NAMES.has(n)) SIGNAL_NAMES.set(n, name);

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
  const oomKilled = await settleWithVerdict(group);
  lap('settle');
  // Every writer is dead now, so the pipes reach their end; a bound keeps a kernel oddity from hanging us.
  const bound = new AbortController();
  await Promise.race([x.drained, sleep(5000, undefined, { signal: bound.signal }).catch(() => undefined)]);
  bound.abort();
  lap('drain');
  const durationMs = Math.round(performance.now() - x.startedAt);
  return result(ended, { outcome, oomKilled, durationMs, status: x.status(), errTail: x.errTail() });
}

/**
 * Waits until `group` is empty (killing stragglers) and answers whether the kernel's OOM killer
 * killed a process of it. The verdict (memory.oom_control, memory.events) is read while the group
 * settles, not after: it is final once bwrap is gone, since whatever the OOM killer took made
 * bwrap's exit, and the job's end waits for one step less.
 */
export async function settleWithVerdict(group: JobGroup): Promise<boolean> {
  const settled = group.settle().catch((e: unknown) => {
    throw new KilnError('ERR_INTERNAL', `the job's processes did not go away: ${(e as Error).message}`, {
      cause: e,
    });
  });
  const [oomKilled] = await Promise.all([group.oomKilled(), settled]);
  return oomKilled;
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
