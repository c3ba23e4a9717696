/** Commands are data: each file in client/commands exports one {@link Command}; only client/main.ts touches yargs. */
import type { Writable } from 'node:stream';

/** Where a command reads and writes, so tests can run commands in-process. */
export interface Io {
  stdout: Writable;
  stderr: Writable;
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Aborted on Ctrl-C. */
  signal: AbortSignal;
}

export interface OptionSpec {
  type: 'string' | 'number' | 'boolean' | 'array';
  describe: string;
  alias?: string;
  default?: unknown;
  choices?: string[];
}

export interface Command<A = Record<string, unknown>> {
  /** yargs command string, e.g. `run [cmd..]`. */
  command: string;
  describe: string;
  positional?: Record<string, { type: 'string' | 'number'; describe: string; array?: boolean }>;
  options?: Record<string, OptionSpec>;
  /** Returns the process exit code. */
  handler(args: A, io: Io): Promise<number>;
}

/** Writes one line. */
export function say(out: Writable, line: string): void {
  out.write(line + '\n');
}
