/** Runs the local preprocessor: the preprocessed text and its diagnostics, both in memory. */
import { spawn } from 'node:child_process';
import { spawnable } from './spawn-command.ts';

export interface Preprocessed {
  code: number;
  text: Buffer;
  /** What the preprocessor printed; kiln cc shows a local compile's instead when it is not empty. */
  stderr: Buffer;
}

export function preprocess(argv: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<Preprocessed> {
  return new Promise((resolve) => {
    const [cmd, ...args] = argv;
    const run = spawnable(cmd!, args, process.platform, env);
    const child = spawn(run.file, run.args, { ...run.options, cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', (e) => {
      resolve({
        code: 127,
        text: Buffer.alloc(0),
        stderr: Buffer.from(`kiln cc: cannot run ${cmd}: ${e.message}\n`),
      });
    });
    child.on('close', (code, sig) =>
      resolve({ code: code ?? 128 + (sig ? 15 : 0), text: Buffer.concat(out), stderr: Buffer.concat(err) }),
    );
  });
}
