/** The command table. */
import type { Command } from '../command.ts';
import { builder } from './builder.ts';
import { cc } from './cc.ts';
import { dev } from './dev.ts';
import { farmDrain, farmUndrain } from './farm-drain.ts';
import { farmStatus } from './farm-status.ts';
import { gateway } from './gateway.ts';
import { logs } from './logs.ts';
import { run } from './run.ts';
import { stats } from './stats.ts';
import { status } from './status.ts';
import { stop } from './stop.ts';
import { toolchainLs } from './toolchain-ls.ts';
import { toolchainPackage } from './toolchain-package.ts';
import { toolchainPush } from './toolchain-push.ts';
import { toolchainRm } from './toolchain-rm.ts';

export const COMMANDS: Command<never>[] = [
  run,
  status,
  logs,
  stop,
  cc,
  stats,
  toolchainPackage,
  toolchainPush,
  toolchainLs,
  toolchainRm,
  farmStatus,
  farmDrain,
  farmUndrain,
  dev,
  gateway,
  builder,
] as unknown as Command<never>[];
