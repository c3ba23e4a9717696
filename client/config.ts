/** Client settings: kiln.toml (this directory or ~/.config/kiln), then KILN_GATEWAY / KILN_TOKEN (which win). */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { UserError } from './errors.ts';

export interface ClientConfig {
  /** The gateway's URL (KILN_GATEWAY, else `gateway`). */
  gateway: string;
  /** Bearer token (KILN_TOKEN, else `token`). @default null */
  token: string | null;
  /** Default platform of jobs (`platform`). @default the gateway's: "linux-x86_64" */
  platform: string | undefined;
}

/** Every problem of the keys kiln reads (others are left to their readers, such as `[toolchains]`). */
function problemsOf(data: Record<string, unknown>): string[] {
  const problems: string[] = [];
  const isUrl = (v: unknown): boolean =>
    typeof v === 'string' && /^https?:\/\/[^/]/.test(v) && URL.canParse(v);
  if (data.gateway !== undefined && !isUrl(data.gateway))
    problems.push('gateway: must be an http(s) URL, such as "https://kiln.example.com"');
  if (data.token !== undefined && (typeof data.token !== 'string' || data.token === ''))
    problems.push('token: must be a non-empty string');
  if (data.platform !== undefined && typeof data.platform !== 'string')
    problems.push('platform: must be a string, such as "linux-x86_64"');
  return problems;
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
  const problems = problemsOf(data);
  if (problems.length > 0) throw new UserError(`problems in ${file}:\n  ${problems.join('\n  ')}`);
  const gateway = env.KILN_GATEWAY || (data.gateway as string | undefined);
  if (!gateway) {
    throw new UserError(
      'no gateway configured: set KILN_GATEWAY (kiln dev prints it) or `gateway = "https://…"` in kiln.toml',
    );
  }
  return {
    gateway: gateway.replace(/\/+$/, ''),
    token: env.KILN_TOKEN || (data.token as string | undefined) || null,
    platform: data.platform as string | undefined,
  };
}
