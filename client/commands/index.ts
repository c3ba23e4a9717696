/** The command table. */
import type { Command } from '../command.ts';
import { builder } from './builder.ts';
import { dev } from './dev.ts';
import { farmStatus } from './farm-status.ts';
import { gateway } from './gateway.ts';
import { logs } from './logs.ts';
import { run } from './run.ts';
import { status } from './status.ts';
import { stop } from './stop.ts';

export const COMMANDS: Command<never>[] = [
  run,
  status,
  logs,
  stop,
  farmStatus,
  dev,
  gateway,
  builder,
] as unknown as Command<never>[];
