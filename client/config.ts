/** Client settings: kiln.toml (this directory or ~/.config/kiln), then KILN_GATEWAY / KILN_TOKEN (which win). */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { z } from 'zod';
import { formatIssues } from '../protocol/validate.ts';
import { UserError } from './errors.ts';

const schema = z
  .object({
    gateway: z.string().url().optional(),
    token: z.string().min(1).optional(),
    /** Default platform of jobs. @default "linux-x86_64" */
    platform: z.string().optional(),
  })
  .passthrough();

export interface ClientConfig {
  gateway: string;
  token: string | null;
  platform: string | undefined;
}

/** Finds the first kiln.toml: ./kiln.toml, then $XDG_CONFIG_HOME/kiln/kiln.toml or ~/.config/kiln/kiln.toml. */
function configFile(cwd: string, env: NodeJS.ProcessEnv): string | null {
  const xdg = env.XDG_CONFIG_HOME ?? join(env.HOME ?? homedir(), '.config');
  for (const f of [join(cwd, 'kiln.toml'), join(xdg, 'kiln', 'kiln.toml')]) if (existsSync(f)) return f;
  return null;
}

export function loadClientConfig(cwd: string, env: NodeJS.ProcessEnv): ClientConfig {
  const file = env.KILN_CONFIG ?? configFile(cwd, env);
  let data: Record<string, unknown> = {};
  if (file) {
    try {
      data = parseToml(readFileSync(file, 'utf8')) as Record<string, unknown>;
    } catch (err) {
      throw new UserError(`cannot read ${file}: ${(err as Error).message}`);
    }
  }
  const r = schema.safeParse(data);
  if (!r.success) throw new UserError(`problems in ${file}:\n  ${formatIssues(r.error.issues).join('\n  ')}`);
  const gateway = env.KILN_GATEWAY || r.data.gateway;
  if (!gateway) {
    throw new UserError(
      'no gateway configured: set KILN_GATEWAY (kiln dev prints it) or `gateway = "https://…"` in kiln.toml',
    );
  }
  return {
    gateway: gateway.replace(/\/+$/, ''),
    token: env.KILN_TOKEN || r.data.token || null,
    platform: r.data.platform,
  };
}
