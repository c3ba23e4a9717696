/** Runs the local preprocessor: the preprocessed text and its diagnostics, both in memory. */
import { spawn } from 'node:child_process';
import { readFileSync, unlink } from 'node:fs';
import { errnoName, type Front } from './front-steps.ts';
import { spawnable } from './spawn-command.ts';

export interface Preprocessed {
  code: number;
  text: Buffer;
  /** What the preprocessor printed; kiln cc shows a local compile's instead when it is not empty. */
  stderr: Buffer;
}

/** The message and code of a preprocessor that could not be started (`message` as Node's spawn says it). */
function notRun(cmd: string, message: string): Preprocessed {
  return {
    code: 127,
    text: Buffer.alloc(0),
    stderr: Buffer.from(`kiln cc: cannot run ${cmd}: ${message}\n`),
  };
}

/**
 * Preprocesses `argv` in `cwd`. With a native front (client/cc/front-steps.ts) the front runs
 * it, its output to a file read here: no fork of this process, no pipe read in JavaScript.
 */
export function preprocess(
  argv: string[],
  cwd: string,
  env: NodeJS.ProcessEnv,
  front?: Front,
): Promise<Preprocessed> {
  if (front && process.platform !== 'win32') return byFront(front, argv, cwd, env);
  return new Promise((resolve) => {
    const [cmd, ...args] = argv;
    const run = spawnable(cmd!, args, process.platform, env);
    const child = spawn(run.file, run.args, { ...run.options, cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', (e) => resolve(notRun(cmd!, e.message)));
    child.on('close', (code, sig) =>
      resolve({ code: code ?? 128 + (sig ? 15 : 0), text: Buffer.concat(out), stderr: Buffer.concat(err) }),
    );
  });
}

async function byFront(
  front: Front,
  argv: string[],
  cwd: string,
  env: NodeJS.ProcessEnv,
): Promise<Preprocessed> {
  const file = front.scratchFile('.i');
  try {
    const st = await front.run({ argv, cwd, env, stdin: 'null', stdout: file, stderr: 'capture' });
    if (st.kind === 'errno') return notRun(argv[0]!, `spawn ${argv[0]} ${errnoName(st.value)}`);
    const code = st.kind === 'exit' ? st.value : 128 + 15;
    // One read call (the text is in the page cache, ~0.1 ms): no file handle and thread-pool hops.
    return { code, text: readFileSync(file), stderr: st.stderr };
  } finally {
    // Not waited for: freeing the file's pages is the thread pool's work, off the compile's path
    // (the name is this step's alone, front-steps.ts).
    unlink(file, () => undefined);
  }
}
