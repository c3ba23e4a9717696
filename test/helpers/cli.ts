/** Runs the kiln CLI in-process (client/main.ts, as `kiln` would) with captured stdout/stderr. */
import { Writable } from 'node:stream';
import { COMMANDS } from '../../client/commands/index.ts';
import { SERVER_COMMANDS } from '../../client/commands/servers.ts';
import { main } from '../../client/main.ts';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A stream that keeps what is written, as bytes. */
export class Capture extends Writable {
  chunks: Buffer[] = [];
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.chunks.push(Buffer.from(chunk));
    cb();
  }
  text(): string {
    return Buffer.concat(this.chunks).toString();
  }
}

/**
 * `kiln <args>`, with KILN_GATEWAY/KILN_TOKEN from `url`/`token` when given; the environment is
 * PATH and HOME plus `env`. `signal` plays Ctrl-C.
 */
export async function kiln(
  args: string[],
  opts: { url?: string; token?: string; cwd?: string; signal?: AbortSignal; env?: NodeJS.ProcessEnv },
): Promise<CliResult> {
  const stdout = new Capture();
  const stderr = new Capture();
  const code = await main(
    args,
    {
      stdout,
      stderr,
      cwd: opts.cwd ?? process.cwd(),
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        ...(opts.url ? { KILN_GATEWAY: opts.url } : {}),
        ...(opts.token ? { KILN_TOKEN: opts.token } : {}),
        ...opts.env,
      },
      signal: opts.signal ?? new AbortController().signal,
    },
    [...COMMANDS, ...SERVER_COMMANDS],
  );
  return { code, stdout: stdout.text(), stderr: stderr.text() };
}
