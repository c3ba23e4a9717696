/**
 * The identity provider as an OAuth 2.0 authorization server (oauth4webapi does the protocol):
 * discovery, token responses turned into what kiln stores, and errors in the CLI's words.
 */
import * as oauth from 'oauth4webapi';
import { UserError } from '../errors.ts';

/** A provider to talk to: its metadata, the client, how the client authenticates. */
export interface Provider {
  as: oauth.AuthorizationServer;
  client: oauth.Client;
  auth: oauth.ClientAuth;
  /** Request options: plain http is allowed only for a provider on loopback. */
  options: { [oauth.allowInsecureRequests]?: boolean; signal?: AbortSignal };
}

/** Tokens as kiln keeps them. */
export interface Tokens {
  accessToken: string;
  refreshToken?: string;
  /** Milliseconds since the epoch. */
  expiresAt?: number;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** Discovers `issuer` and sets up `clientId` (public unless `secret`). */
export async function provider(issuer: string, clientId: string, secret?: string): Promise<Provider> {
  let url: URL;
  try {
    url = new URL(issuer);
  } catch {
    throw new UserError(
      `the identity provider ${JSON.stringify(issuer)} is not a URL (auth.issuer in kiln.toml)`,
    );
  }
  const insecure = url.protocol === 'http:' && LOOPBACK.has(url.hostname);
  const options = insecure ? { [oauth.allowInsecureRequests]: true } : {};
  let as: oauth.AuthorizationServer;
  try {
    as = await oauth.processDiscoveryResponse(
      url,
      await oauth.discoveryRequest(url, { ...options, algorithm: 'oidc' }),
    );
  } catch (err) {
    throw new UserError(`cannot discover the identity provider ${issuer}: ${why(err)}`);
  }
  const auth = secret === undefined ? oauth.None() : oauth.ClientSecretPost(secret);
  return { as, client: { client_id: clientId }, auth, options };
}

/** Tokens from a processed token endpoint response; `now` is when the request was sent. */
export function tokensOf(r: oauth.TokenEndpointResponse, now: number, previous?: Tokens): Tokens {
  return {
    accessToken: r.access_token,
    ...(r.refresh_token !== undefined
      ? { refreshToken: r.refresh_token }
      : previous?.refreshToken !== undefined
        ? { refreshToken: previous.refreshToken }
        : {}),
    ...(r.expires_in !== undefined ? { expiresAt: now + r.expires_in * 1000 } : {}),
  };
}

/** The provider's own words for a failure (`invalid_grant: …`), or the error's message. */
export function why(err: unknown): string {
  if (err instanceof oauth.ResponseBodyError || err instanceof oauth.AuthorizationResponseError) {
    return `${err.error}${err.error_description ? `: ${err.error_description}` : ''}`;
  }
  const cause = (err as { cause?: { code?: string } }).cause;
  return cause?.code ?? (err as Error).message;
}

/** Extra parameters for token and authorization requests: RFC 8707 `resource`, Auth0-style `audience`. */
export function audienceParams(o: {
  resource?: string | undefined;
  audience?: string | undefined;
}): Record<string, string> {
  return {
    ...(o.resource !== undefined ? { resource: o.resource } : {}),
    ...(o.audience !== undefined ? { audience: o.audience } : {}),
  };
}
