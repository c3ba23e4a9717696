/** Runs the kiln CLI in-process for benches (the gateway of a dev farm lives in this process too). */
import { Writable } from 'node:stream';
import { COMMANDS } from '../client/commands/index.ts';
import { main } from '../client/main.ts';

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _e: BufferEncoding, cb: () => void): void {
    this.text += chunk.toString();
    cb();
  }
}

export function kilnInProcess(url: string, token: string, cwd: string) {
  return async (args: string[]): Promise<{ code: number; stdout: string; stderr: string }> => {
    const stdout = new Capture();
    const stderr = new Capture();
    const code = await main(
      args,
      {
        stdout,
        stderr,
        cwd,
        env: { ...process.env, KILN_GATEWAY: url, KILN_TOKEN: token },
        signal: new AbortController().signal,
      },
      COMMANDS,
    );
    if (code !== 0) throw new Error(`kiln ${args.join(' ')} failed (${code}): ${stderr.text}`);
    return { code, stdout: stdout.text, stderr: stderr.text };
  };
}
