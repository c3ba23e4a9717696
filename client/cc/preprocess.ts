/** Runs the local preprocessor: the preprocessed text in memory, its diagnostics passed through. */
import { spawn } from 'node:child_process';
import type { Writable } from 'node:stream';

export interface Preprocessed {
  code: number;
  text: Buffer;
}

export function preprocess(
  argv: string[],
  cwd: string,
  env: NodeJS.ProcessEnv,
  stderr: Writable,
): Promise<Preprocessed> {
  return new Promise((resolve) => {
    const [cmd, ...args] = argv;
    const child = spawn(cmd!, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => stderr.write(c));
    child.on('error', (err) => {
      stderr.write(`kiln cc: cannot run ${cmd}: ${err.message}\n`);
      resolve({ code: 127, text: Buffer.alloc(0) });
    });
    child.on('close', (code, sig) =>
      resolve({ code: code ?? 128 + (sig ? 15 : 0), text: Buffer.concat(out) }),
    );
  });
}
