/** `kiln auth logout`: forgets the stored login for this gateway. */
import { loginFile, removeLogin } from '../auth/store.ts';
import { say, type Io } from '../command.ts';
import { loadClientConfig } from '../config.ts';

export async function handler(_a: unknown, io: Io): Promise<number> {
  const cfg = loadClientConfig(io.cwd, io.env);
  const removed = removeLogin(io.env, cfg.gateway);
  say(
    io.stderr,
    removed
      ? `kiln: signed out of ${cfg.gateway} (removed ${loginFile(io.env, cfg.gateway)})`
      : `kiln: no login stored for ${cfg.gateway}`,
  );
  return Promise.resolve(0);
}
