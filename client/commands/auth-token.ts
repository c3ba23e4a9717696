/** `kiln auth token`: prints a valid credential for this gateway (for scripts: `KILN_TOKEN=$(kiln auth token)`). */
import { resolveCredential } from '../auth/credential.ts';
import { say, type Io } from '../command.ts';
import { loadClientConfig } from '../config.ts';
import { UserError } from '../errors.ts';

export async function handler(a: { source: boolean }, io: Io): Promise<number> {
  const cfg = loadClientConfig(io.cwd, io.env);
  const found = await resolveCredential(io.env, cfg);
  if (found === null) {
    throw new UserError(`no credential for ${cfg.gateway}: run \`kiln auth login\` (or set KILN_TOKEN)`);
  }
  say(io.stdout, found.token);
  if (a.source) say(io.stderr, `kiln: credential from ${found.source}`);
  return 0;
}
