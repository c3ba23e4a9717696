/** Streams a job's log to stdout/stderr as it is produced; returns when the job ends. */
import type { Api } from './api.ts';
import { readLogs } from './api.ts';
import type { Io } from './command.ts';

export async function followToTerminal(api: Api, id: string, io: Io, follow = true): Promise<void> {
  for await (const line of readLogs(api, id, follow, io.signal)) {
    if ('restart' in line) {
      io.stderr.write(
        `kiln: the builder was lost; job restarted on another builder (attempt ${line.restart})\n`,
      );
    } else if ('stream' in line) {
      (line.stream === 'stdout' ? io.stdout : io.stderr).write(Buffer.from(line.data, 'base64'));
    }
  }
}
