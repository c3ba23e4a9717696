/** Client settings: kiln.toml (client/dirs.ts: this directory, else the OS's config place), then KILN_GATEWAY / KILN_TOKEN / KILN_AUTH_* (which win). */
import { readFileSync } from 'node:fs';
import { parse as parseToml } from 'smol-toml';
import { configFile } from './dirs.ts';
import { UserError } from './errors.ts';

export interface ClientConfig {
  /** The gateway's URL (KILN_GATEWAY, else `gateway`). */
  gateway: string;
  /** Bearer token (KILN_TOKEN, else `token`). @default null */
  token: string | null;
  /** Default platform of jobs (`platform`). @default the gateway's: "linux-x86_64" */
  platform: string | undefined;
  /** Sign-in settings (`[auth]`, docs/identity.md). */
  auth: AuthSettings;
  /**
   * PEM files for TLS (`[tls]` ca/cert/key/storeCa, KILN_TLS_CA/_CERT/_KEY/_STORE_CA): the
   * gateway's CA and the client certificate go to the gateway; `storeCa` (default: `ca`) is
   * trusted, beside the system's roots, for the store's presigned URLs.
   */
  tls: { ca?: string; cert?: string; key?: string; storeCa?: string };
  /**
   * Refuse results whose signing key is not a registered builder's (`verifySigner`,
   * KILN_VERIFY_SIGNER=1; `kiln run --verify-signer`). The signature itself is always checked.
   * @default false
   */
  verifySigner: boolean;
}

/** How `kiln auth login` and CI credentials reach the identity provider: `[auth]` and `KILN_AUTH_*`. */
export interface AuthSettings {
  /** The identity provider, an OpenID issuer URL (`issuer`, KILN_AUTH_ISSUER). */
  issuer: string | undefined;
  /** The public client `kiln auth login` signs in as (`clientId`, KILN_AUTH_CLIENT_ID). */
  clientId: string | undefined;
  /** Scopes asked for (`scope`, KILN_AUTH_SCOPE). @default "openid offline_access" */
  scope: string;
  /** RFC 8707 resource indicator sent with token requests (`resource`, KILN_AUTH_RESOURCE). */
  resource: string | undefined;
  /** Auth0-style `audience` parameter (`audience`, KILN_AUTH_AUDIENCE). */
  audience: string | undefined;
  /** Audience of GitHub Actions OIDC tokens (`ciAudience`, KILN_CI_AUDIENCE). @default the gateway URL */
  ciAudience: string | undefined;
}

const AUTH_KEYS = ['issuer', 'clientId', 'scope', 'resource', 'audience', 'ciAudience'];
const TLS_KEYS = ['ca', 'cert', 'key', 'storeCa'];

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
  if (data.verifySigner !== undefined && typeof data.verifySigner !== 'boolean')
    problems.push('verifySigner: must be true or false');
  for (const [section, known] of [
    ['auth', AUTH_KEYS],
    ['tls', TLS_KEYS],
  ] as const) {
    const table = data[section] as Record<string, unknown> | undefined;
    if (table === undefined) continue;
    if (typeof table !== 'object' || table === null || Array.isArray(table)) {
      problems.push(`${section}: must be a table`);
      continue;
    }
    for (const [k, v] of Object.entries(table)) {
      if (!known.includes(k)) problems.push(`${section}.${k}: unknown key (known: ${known.join(', ')})`);
      else if (typeof v !== 'string' || v === '')
        problems.push(`${section}.${k}: must be a non-empty string`);
      else if (k === 'issuer' && !URL.canParse(v)) problems.push('auth.issuer: must be a URL');
    }
  }
  return problems;
}

export function loadClientConfig(cwd: string, env: NodeJS.ProcessEnv): ClientConfig {
  const file = configFile(cwd, env);
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
    auth: authSettings((data.auth ?? {}) as Record<string, string | undefined>, env),
    tls: tlsFiles((data.tls ?? {}) as Record<string, string | undefined>, env),
    verifySigner: verifySignerOf(env, data.verifySigner),
  };
}

/** KILN_VERIFY_SIGNER (`1`/`true` on, `0`/`false` off) wins over kiln.toml's `verifySigner`. */
export function verifySignerOf(env: NodeJS.ProcessEnv, fromFile: unknown): boolean {
  const raw = env.KILN_VERIFY_SIGNER;
  if (raw !== undefined && raw !== '') {
    if (/^(1|true|yes)$/i.test(raw)) return true;
    if (/^(0|false|no)$/i.test(raw)) return false;
    throw new UserError(`KILN_VERIFY_SIGNER must be 1 or 0, not ${JSON.stringify(raw)}`);
  }
  return fromFile === true;
}

function tlsFiles(t: Record<string, string | undefined>, env: NodeJS.ProcessEnv): ClientConfig['tls'] {
  const ca = env.KILN_TLS_CA || t.ca;
  const cert = env.KILN_TLS_CERT || t.cert;
  const key = env.KILN_TLS_KEY || t.key;
  const storeCa = env.KILN_TLS_STORE_CA || t.storeCa;
  return {
    ...(ca ? { ca } : {}),
    ...(cert ? { cert } : {}),
    ...(key ? { key } : {}),
    ...(storeCa ? { storeCa } : {}),
  };
}

function authSettings(t: Record<string, string | undefined>, env: NodeJS.ProcessEnv): AuthSettings {
  return {
    issuer: env.KILN_AUTH_ISSUER || t.issuer,
    clientId: env.KILN_AUTH_CLIENT_ID || t.clientId,
    scope: env.KILN_AUTH_SCOPE || t.scope || 'openid offline_access',
    resource: env.KILN_AUTH_RESOURCE || t.resource,
    audience: env.KILN_AUTH_AUDIENCE || t.audience,
    ciAudience: env.KILN_CI_AUDIENCE || t.ciAudience,
  };
}
