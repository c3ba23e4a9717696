/**
 * Commands are data: client/commands/index.ts lists every {@link Command} (its spec, and its
 * handler's module, loaded when it runs); only client/main.ts touches yargs.
 */
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

/** What a command takes, as yargs shows and parses it. */
export interface CommandSpec {
  /** yargs command string, e.g. `run [cmd..]`; object-then-verb as `toolchain push <file>`. */
  command: string;
  describe: string;
  positional?: Record<string, { type: 'string' | 'number'; describe: string; array?: boolean }>;
  options?: Record<string, OptionSpec>;
}

/** Runs a command with its parsed arguments; returns the process exit code. */
export type Handler<A> = (args: A, io: Io) => Promise<number>;

/** A row of the command table: the spec, and the handler's module, imported only when it runs. */
export interface Command extends CommandSpec {
  load(): Promise<Handler<never>>;
}

/**
 * A command of the table. `load` imports the module that exports its `handler`, so listing
 * the commands (`kiln --help`) or running one loads nothing of the others.
 */
export function defineCommand<A>(spec: CommandSpec, load: () => Promise<{ handler: Handler<A> }>): Command {
  return { ...spec, load: async () => (await load()).handler as Handler<never> };
}

/** Writes one line. */
export function say(out: Writable, line: string): void {
  out.write(line + '\n');
}
