#!/usr/bin/env node
// The kiln CLI entry point: runs the TypeScript sources unbuilt through tsx. A compile
// (`kiln cc gcc …`, or the launcher form `kiln gcc …`) takes a lean path without yargs.
import { register } from 'tsx/esm/api';

register();
const args = process.argv.slice(2);
const { ccArgv } = await import('../cc/detect.ts');
const compile = ccArgv(args);
if (args[0] === 'cc-daemon') {
  const { runDaemon } = await import('../cc/daemon.ts');
  await runDaemon(process.env, Number(process.env.KILN_CC_DAEMON_IDLE_MS) || undefined);
} else if (compile) {
  const { runCcCli } = await import('../cc/cli.ts');
  await runCcCli(compile);
} else {
  const { runCli } = await import('../cli.ts');
  await runCli();
}
