/**
 * Credentials a CI job has without anyone signing in:
 * - GitHub Actions OIDC: with `permissions: id-token: write`, the runner sets
 *   ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN; the job asks that URL for a
 *   token with the audience the gateway expects.
 * - OAuth client credentials: KILN_CLIENT_ID and KILN_CLIENT_SECRET, with the provider's issuer.
 */
import * as oauth from 'oauth4webapi';
import { UserError } from '../errors.ts';
import type { AuthSettings } from '../config.ts';
import { audienceParams, provider, tokensOf, why, type Tokens } from './oauth.ts';

/** True when the GitHub Actions OIDC variables are set. */
export function hasGithubOidc(env: NodeJS.ProcessEnv): boolean {
  return Boolean(env.ACTIONS_ID_TOKEN_REQUEST_URL && env.ACTIONS_ID_TOKEN_REQUEST_TOKEN);
}

/** A GitHub Actions OIDC token for `audience`. */
export async function githubOidcToken(env: NodeJS.ProcessEnv, audience: string): Promise<Tokens> {
  let url: URL;
  try {
    url = new URL(env.ACTIONS_ID_TOKEN_REQUEST_URL ?? '');
  } catch {
    throw new UserError('ACTIONS_ID_TOKEN_REQUEST_URL is not a URL');
  }
  url.searchParams.set('audience', audience);
  const hint = 'does the workflow grant `permissions: id-token: write`?';
  let res: Response;
  try {
    res = await fetch(url, {
      headers: { authorization: `Bearer ${env.ACTIONS_ID_TOKEN_REQUEST_TOKEN}`, accept: 'application/json' },
    });
  } catch (err) {
    throw new UserError(`cannot reach the GitHub Actions token service: ${why(err)}`);
  }
  const body = (await res.json().catch(() => null)) as { value?: unknown } | null;
  if (!res.ok || typeof body?.value !== 'string') {
    throw new UserError(
      `the GitHub Actions token service answered HTTP ${res.status} without a token (${hint})`,
    );
  }
  return { accessToken: body.value, ...expiryOf(body.value) };
}

/** True when client credentials are in the environment. */
export function hasClientCredentials(env: NodeJS.ProcessEnv): boolean {
  return Boolean(env.KILN_CLIENT_ID && env.KILN_CLIENT_SECRET);
}

/** A client_credentials token from the provider named by `settings.issuer`. */
export async function clientCredentialsToken(
  env: NodeJS.ProcessEnv,
  settings: AuthSettings,
): Promise<Tokens> {
  if (settings.issuer === undefined) {
    throw new UserError(
      'KILN_CLIENT_ID is set but no identity provider: set KILN_AUTH_ISSUER (or auth.issuer in kiln.toml)',
    );
  }
  const p = await provider(settings.issuer, env.KILN_CLIENT_ID!, env.KILN_CLIENT_SECRET!);
  const scope = settings.scope
    .split(' ')
    .filter((s) => s !== '' && s !== 'openid' && s !== 'offline_access')
    .join(' ');
  const params = { ...(scope ? { scope } : {}), ...audienceParams(settings) };
  const sent = Date.now();
  try {
    const r = await oauth.processClientCredentialsResponse(
      p.as,
      p.client,
      await oauth.clientCredentialsGrantRequest(p.as, p.client, p.auth, params, p.options),
    );
    return tokensOf(r, sent);
  } catch (err) {
    throw new UserError(
      `the identity provider refused the client credentials in KILN_CLIENT_ID: ${why(err)}`,
    );
  }
}

/** `expiresAt` from a JWT's `exp`, when it has one. */
export function expiryOf(jwt: string): { expiresAt?: number } {
  try {
    const payload = JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString()) as {
      exp?: unknown;
    };
    return typeof payload.exp === 'number' ? { expiresAt: payload.exp * 1000 } : {};
  } catch {
    return {};
  }
}
