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
