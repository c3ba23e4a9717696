/**
 * What `kiln` runs, for both entry points (the repository's client/bin/kiln.js through tsx, and
 * the installed client's bundle, client/bin/installed.ts): the cc daemon, a compile on a lean
 * path without yargs (`kiln cc gcc …`, or the launcher form `kiln gcc …`), or the CLI over the
 * command table that `commands` loads.
 */
import type { Command } from './command.ts';
import { ccArgv } from './cc/detect.ts';

export async function start(commands: () => Promise<Command[]>): Promise<void> {
  const args = process.argv.slice(2);
  const compile = ccArgv(args);
  if (args[0] === 'cc-daemon') {
    const { runDaemon } = await import('./cc/daemon.ts');
    await runDaemon(process.env, Number(process.env.KILN_CC_DAEMON_IDLE_MS) || undefined);
  } else if (compile) {
    const { runCcCli } = await import('./cc/cli.ts');
    await runCcCli(compile);
  } else {
    const { runCli } = await import('./cli.ts');
    await runCli(await commands());
  }
}
