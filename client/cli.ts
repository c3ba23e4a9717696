/** Process glue: real stdio, Ctrl-C → abort, exit code. */
import type { Command } from './command.ts';
import { main } from './main.ts';

export async function runCli(commands: Command[]): Promise<void> {
  const ctl = new AbortController();
  let interrupts = 0;
  const onSignal = (): void => {
    interrupts++;
    if (interrupts > 1) process.exit(130);
    ctl.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const code = await main(
    process.argv.slice(2),
    {
      stdout: process.stdout,
      stderr: process.stderr,
      env: process.env,
      cwd: process.cwd(),
      signal: ctl.signal,
    },
    commands,
  );
  process.exitCode = code;
  // Long-lived handles (sockets of finished requests) must not keep a finished command alive.
  setTimeout(() => process.exit(code), 200).unref();
}
