/** Shared by the long-running commands: wait for Ctrl-C / SIGTERM. */
import type { Io } from '../command.ts';

export function untilStopped(io: Io, extra?: Promise<unknown>): Promise<void> {
  return new Promise((resolve, reject) => {
    if (io.signal.aborted) return resolve();
    io.signal.addEventListener('abort', () => resolve(), { once: true });
    extra?.then(() => resolve(), reject);
  });
}

export function logger(io: Io, who: string): (m: string) => void {
  return (m) => io.stderr.write(`${new Date().toISOString()} ${who}: ${m}\n`);
}

/**
 * With KILN_PARENT_PID set (kiln dev's builders), stop when that process is gone, even if it was
 * killed without a chance to stop its children.
 */
export function watchParent(io: Io, log: (m: string) => void): void {
  const ppid = Number(io.env.KILN_PARENT_PID);
  if (!ppid) return;
  const timer = setInterval(() => {
    try {
      process.kill(ppid, 0);
    } catch {
      log(`parent ${ppid} is gone; stopping`);
      clearInterval(timer);
      process.kill(process.pid, 'SIGTERM');
    }
  }, 1000);
  timer.unref();
}
