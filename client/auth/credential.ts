/**
 * Which credential a command sends, first found wins:
 * 1. KILN_TOKEN, then `token` in kiln.toml (static tokens),
 * 2. GitHub Actions OIDC, when ACTIONS_ID_TOKEN_REQUEST_URL/_TOKEN are set,
 * 3. client credentials, when KILN_CLIENT_ID/KILN_CLIENT_SECRET are set,
 * 4. the login `kiln auth login` stored for this gateway, refreshed when it is about to expire.
 */
import * as oauth from 'oauth4webapi';
import type { ClientConfig } from '../config.ts';
import { UserError } from '../errors.ts';
import { clientCredentialsToken, githubOidcToken, hasClientCredentials, hasGithubOidc } from './ci.ts';
import { audienceParams, provider, tokensOf, why, type Tokens } from './oauth.ts';
import { readLogin, writeLogin, type StoredLogin } from './store.ts';

export type CredentialSource = 'KILN_TOKEN' | 'kiln.toml' | 'github-actions' | 'client-credentials' | 'login';

/** A token is renewed this long before it expires. */
const MARGIN_MS = 60_000;

const expiring = (t: { expiresAt?: number | undefined }, now: number): boolean =>
  t.expiresAt !== undefined && t.expiresAt - MARGIN_MS <= now;

/** The credential to send and where it came from, or null when there is none. */
export async function resolveCredential(
  env: NodeJS.ProcessEnv,
  cfg: ClientConfig,
): Promise<{ token: string; source: CredentialSource; expiresAt?: number } | null> {
  if (env.KILN_TOKEN) return { token: env.KILN_TOKEN, source: 'KILN_TOKEN' };
  if (cfg.token) return { token: cfg.token, source: 'kiln.toml' };
  if (hasGithubOidc(env)) {
    const t = await githubOidcToken(env, cfg.auth.ciAudience ?? cfg.gateway);
    return { token: t.accessToken, source: 'github-actions', ...expiry(t) };
  }
  if (hasClientCredentials(env)) {
    const t = await clientCredentialsToken(env, cfg.auth);
    return { token: t.accessToken, source: 'client-credentials', ...expiry(t) };
  }
  const login = await validLogin(env, cfg.gateway);
  return login === null ? null : { token: login.accessToken, source: 'login', ...expiry(login) };
}

/**
 * A lazy credential for the API client: resolved on the first call, kept while valid, resolved
 * again (a refresh, a new CI token) when it is about to expire.
 */
export function lazyCredential(env: NodeJS.ProcessEnv, cfg: ClientConfig): () => Promise<string | null> {
  let held: Promise<{ token: string; expiresAt?: number } | null> | null = null;
  return async () => {
    const now = Date.now();
    const current = held === null ? null : await held;
    if (held === null || (current !== null && expiring(current, now))) held = resolveCredential(env, cfg);
    held.catch(() => (held = null));
    return (await held)?.token ?? null;
  };
}

/** The stored login's access token, refreshed (and stored again) when it is about to expire. */
export async function validLogin(env: NodeJS.ProcessEnv, gateway: string): Promise<StoredLogin | null> {
  const login = readLogin(env, gateway);
  if (login === null || !expiring(login, Date.now())) return login;
  const again = `run \`kiln auth login\` to sign in to ${gateway} again`;
  if (login.refreshToken === undefined) throw new UserError(`your kiln login has expired: ${again}`);
  const p = await provider(login.issuer, login.clientId);
  const sent = Date.now();
  let tokens: Tokens;
  try {
    const r = await oauth.processRefreshTokenResponse(
      p.as,
      p.client,
      await oauth.refreshTokenGrantRequest(p.as, p.client, p.auth, login.refreshToken, {
        ...p.options,
        additionalParameters: audienceParams(login),
      }),
    );
    tokens = tokensOf(r, sent, login);
  } catch (err) {
    // Another kiln process may have refreshed (and so rotated the refresh token) just now.
    const now = readLogin(env, gateway);
    if (now !== null && now.refreshToken !== login.refreshToken && !expiring(now, Date.now())) return now;
    if (err instanceof oauth.ResponseBodyError && err.error === 'invalid_grant') {
      throw new UserError(`your kiln login has expired or was revoked: ${again}`);
    }
    throw new UserError(`cannot refresh your kiln login at ${login.issuer}: ${why(err)}`);
  }
  const renewed: StoredLogin = { ...login, ...tokens };
  if (tokens.expiresAt === undefined) delete renewed.expiresAt;
  writeLogin(env, renewed);
  return renewed;
}

function expiry(t: { expiresAt?: number | undefined }): { expiresAt?: number } {
  return t.expiresAt === undefined ? {} : { expiresAt: t.expiresAt };
}
