/** The API handle of a command: config loaded once, credentials attached. */
import type { Api } from './api.ts';
import type { Io } from './command.ts';
import { loadClientConfig } from './config.ts';

export function apiFor(io: Io, tokenOverride?: string): Api {
  const cfg = loadClientConfig(io.cwd, io.env);
  return { base: cfg.gateway, token: tokenOverride ?? cfg.token };
}

/** The default job platform from kiln.toml (`platform = "linux-aarch64"`), if any. */
export function defaultPlatform(io: Io): string | undefined {
  return loadClientConfig(io.cwd, io.env).platform;
}
