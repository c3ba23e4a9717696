/**
 * Streams a job's log to stdout/stderr as it is produced; returns when the job ends.
 *
 * A job whose builder was lost restarts from scratch, so its output starts again. stdout must then
 * hold only the final attempt's output: with `spoolStdout` (the CLI uses it when stdout is not a
 * terminal, e.g. `kiln run … > file`) stdout is kept per attempt and written when the job ends;
 * otherwise it is live and the restart is marked on stderr. Output of a lost attempt that arrives
 * late is never shown.
 */
import type { Api } from './http.ts';
import { readLogs } from './api.ts';
import type { Io } from './command.ts';

export interface FollowOptions {
  /** Keep reading until the job ends. @default true */
  follow?: boolean;
  /** Hold stdout of the current attempt back until the job ends (see the module comment). @default false */
  spoolStdout?: boolean;
}

export async function followToTerminal(api: Api, id: string, io: Io, o: FollowOptions = {}): Promise<void> {
  let attempt = 1;
  let spool: Buffer[] = [];
  for await (const line of readLogs(api, id, o.follow ?? true, io.signal)) {
    if ('restart' in line) {
      if (line.restart <= attempt) continue;
      attempt = line.restart;
      const dropped = o.spoolStdout && spool.length > 0 ? '; the lost attempt’s stdout is discarded' : '';
      spool = [];
      io.stderr.write(
        `kiln: the builder was lost; job restarted on another builder (attempt ${line.restart})${dropped}\n`,
      );
    } else if ('stream' in line) {
      if (line.attempt < attempt) continue; // late output of a lost attempt (seen after a resume)
      if (line.attempt > attempt) {
        attempt = line.attempt; // its restart line was not seen: still, only this attempt counts
        spool = [];
      }
      const bytes = Buffer.from(line.data, 'base64');
      if (line.stream === 'stderr') io.stderr.write(bytes);
      else if (o.spoolStdout) spool.push(bytes);
      else io.stdout.write(bytes);
    }
  }
  for (const b of spool) io.stdout.write(b);
}
