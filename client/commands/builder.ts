/** `kiln builder [--config builder.toml]` — run a builder agent on this host. */
import { builderConfigSchema } from '../../builders/core/config.ts';
import { loadConfig } from '../../wiring/load-config.ts';
import { startBuilder } from '../../wiring/builder.ts';
import type { Io } from '../command.ts';
import { logger, untilStopped, watchParent } from './daemon.ts';

export async function handler(a: { config?: string }, io: Io): Promise<number> {
  const cfg = loadConfig(builderConfigSchema, { ...(a.config ? { file: a.config } : {}), env: io.env });
  const log = logger(io, `builder ${cfg.name}`);
  const b = await startBuilder(cfg, log);
  watchParent(io, log);
  // Stopping drains (running jobs finish within drainMs, the rest are handed back) and gives up
  // the lease, but never waits forever (Redis may be gone too).
  const close = (): Promise<unknown> =>
    Promise.race([b.close(), new Promise((r) => setTimeout(r, cfg.drainMs + 15_000).unref())]);
  await untilStopped(io, b.agent.done);
  await close();
  return 0;
}
