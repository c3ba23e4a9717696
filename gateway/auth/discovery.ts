/** OpenID Provider discovery: the issuer's `/.well-known/openid-configuration` names its `jwks_uri`. */
import { fetchJsonObject, type AuthEnv } from './fetch-json.ts';
import { isSafeUrl } from './jwt-config.ts';

/**
 * A resolver of the issuer's JWKS URL: the discovery document is fetched on first use (inside a
 * key fetch, so its failures are the key set's: 503 with Retry-After), checked (its `issuer`
 * must be exactly `issuer`, its `jwks_uri` https: or loopback http:) and then kept.
 */
export function discoverJwksUrl(issuer: string, env: AuthEnv): (signal: AbortSignal) => Promise<string> {
  let found: string | null = null;
  const url = `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
  return async (signal) => {
    if (found !== null) return found;
    const { status, body } = await fetchJsonObject(env, url, signal);
    if (status !== 200 || body === null) {
      throw new Error(
        `discovery ${url} answered HTTP ${status}${body === null ? ' without a JSON object' : ''}`,
      );
    }
    if (body.issuer !== issuer) {
      throw new Error(
        `discovery ${url} names issuer ${JSON.stringify(body.issuer)}, not ${JSON.stringify(issuer)}`,
      );
    }
    const jwksUri = body.jwks_uri;
    if (typeof jwksUri !== 'string' || !isSafeUrl(jwksUri)) {
      throw new Error(`discovery ${url} has no usable jwks_uri (https:, or http: on localhost)`);
    }
    found = jwksUri;
    return found;
  };
}
