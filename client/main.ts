/**
 * The kiln CLI: the ONE file that touches yargs. Commands are data (client/commands/index.ts);
 * a command's module is imported only when that command runs.
 */
import yargs, { type Argv } from 'yargs';
import { KilnError } from '../protocol/errors.ts';
import type { Command, Io } from './command.ts';
import { UserError } from './errors.ts';
import { ccArgv } from './cc/detect.ts';
import { kilnVersion } from './version.ts';

function register(y: Argv, cmd: Command, io: Io, setCode: (n: number) => void): Argv {
  return y.command(
    cmd.command,
    cmd.describe,
    (b) => {
      for (const [name, p] of Object.entries(cmd.positional ?? {}))
        b.positional(name, { type: p.type, describe: p.describe, array: p.array });
      for (const [name, o] of Object.entries(cmd.options ?? {})) b.option(name, { ...o, type: o.type });
      return b;
    },
    async (args) => setCode(await (await cmd.load())(args as never, io)),
  );
}

/**
 * Runs the CLI with `argv` (without node and script) over the command table `commands`
 * (client/commands/index.ts, plus servers.ts in the repository) and returns the exit code. A UserError
 * (the user's mistake) or a KilnError (a FarmError, or a coded refusal such as a compiler that
 * cannot be packaged) prints a clean message; anything else is a bug and shows its stack.
 */
export async function main(argv: string[], io: Io, commands: Command[]): Promise<number> {
  const compile = ccArgv(argv);
  if (compile) return (await import('./cc/compile.ts')).kilnCc(compile, io);
  let code = 0;
  let y = yargs(argv)
    .scriptName('kiln')
    .parserConfiguration({ 'populate--': true })
    .strict()
    .help()
    .version(kilnVersion())
    .demandCommand(1, 'give a command (kiln --help lists them)')
    .wrap(Math.min(110, process.stdout.columns || 100));
  const setCode = (n: number): void => void (code = n);
  // Object-then-verb commands (`toolchain push`, `farm status`) are grouped under their noun.
  const groups = new Map<string, Command[]>();
  for (const cmd of commands) {
    const [head, sub] = cmd.command.split(' ');
    if (sub && !/^[<[]/.test(sub)) groups.set(head!, [...(groups.get(head!) ?? []), cmd]);
    else y = register(y, cmd, io, setCode);
  }
  for (const [head, subs] of groups) {
    y = y.command(
      `${head} <command>`,
      `${head} commands (${subs.map((s) => s.command.split(' ')[1]).join(', ')})`,
      (b) => {
        for (const s of subs) register(b, { ...s, command: s.command.slice(head.length + 1) }, io, setCode);
        return b.demandCommand(1, `give a ${head} command (kiln ${head} --help lists them)`);
      },
    );
  }
  let usageError: string | null = null;
  y = y.fail((msg, err) => {
    if (err) throw err;
    usageError = msg;
  });
  try {
    await y.parseAsync();
  } catch (err) {
    if (err instanceof UserError) {
      io.stderr.write(`kiln: ${err.message}\n`);
      return err.exitCode;
    }
    if (err instanceof KilnError) {
      io.stderr.write(`kiln: ${err.message}\n`);
      return 1;
    }
    io.stderr.write(`kiln: internal error (please report it):\n${(err as Error).stack ?? String(err)}\n`);
    return 70;
  }
  if (usageError) {
    io.stderr.write(`kiln: ${usageError}\n`);
    return 2;
  }
  return code;
}
