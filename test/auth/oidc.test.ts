/**
 * The `jwt` method against a REAL OpenID provider (oidc-provider, in-process on 127.0.0.1):
 * a client gets a JWT access token with the client_credentials grant and a resource indicator,
 * and the gateway verifies it with the keys from the provider's discovered `jwks_uri`.
 *
 * Tenant mapping: the provider adds a `kiln_tenant` claim to access tokens through its
 * `extraTokenClaims` hook (configured per client here); for a client without it, the method's
 * `tenantDefault` is used.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { exportJWK, generateKeyPair } from 'jose';
import { createAuthenticator } from '../../gateway/auth/authenticate.ts';
import { freePort } from '../helpers/ports.ts';

/** The parts of oidc-provider's (untyped) API this test uses. */
interface Provider {
  callback(): (req: IncomingMessage, res: ServerResponse) => void;
}
type ProviderClass = new (issuer: string, configuration: Record<string, unknown>) => Provider;
interface TokenLike {
  clientId?: string;
}

const OIDC_PROVIDER = 'oidc-provider'; // a variable specifier: the package ships no type declarations
const AUDIENCE = 'urn:kiln:gateway';
const TENANTS: Record<string, string> = { 'ci-runner': 'acme' };
const clients = ['ci-runner', 'dev-laptop'].map((id) => ({
  client_id: id,
  client_secret: `${id}-secret-0123456789abcdef`,
  grant_types: ['client_credentials'],
  redirect_uris: [],
  response_types: [],
  token_endpoint_auth_method: 'client_secret_post',
}));

let server: Server;
let issuer: string;
let discovery: { jwks_uri: string; token_endpoint: string; issuer: string };

before(async () => {
  const { default: Provider } = (await import(OIDC_PROVIDER)) as { default: ProviderClass };
  issuer = `http://127.0.0.1:${await freePort()}`;
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const signingKey = { ...(await exportJWK(privateKey)), kid: 'oidc-test-1', alg: 'RS256', use: 'sig' };
  const provider = new Provider(issuer, {
    clients,
    jwks: { keys: [signingKey] },
    cookies: { keys: ['a-cookie-key-for-tests-only'] },
    ttl: { ClientCredentials: 600 },
    features: {
      clientCredentials: { enabled: true },
      devInteractions: { enabled: false },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => AUDIENCE,
        getResourceServerInfo: () => ({
          scope: 'build',
          audience: AUDIENCE,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        }),
      },
    },
    extraTokenClaims: (_ctx: unknown, token: TokenLike) => {
      const tenant = token.clientId === undefined ? undefined : TENANTS[token.clientId];
      return tenant === undefined ? undefined : { kiln_tenant: tenant };
    },
  });
  server = createServer(provider.callback());
  await new Promise<void>((resolve) => server.listen(Number(new URL(issuer).port), '127.0.0.1', resolve));
  const res = await fetch(`${issuer}/.well-known/openid-configuration`);
  assert.equal(res.status, 200);
  discovery = (await res.json()) as typeof discovery;
});

after(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

/** An access token from the provider's token endpoint, fetched as any client would. */
async function accessToken(clientIndex: number): Promise<string> {
  const client = clients[clientIndex]!;
  const res = await fetch(discovery.token_endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      scope: 'build',
      resource: AUDIENCE,
      client_id: client.client_id,
      client_secret: client.client_secret,
    }),
  });
  const body = (await res.json()) as { access_token?: string; token_type?: string };
  assert.equal(res.status, 200, JSON.stringify(body));
  assert.equal(body.token_type, 'Bearer');
  assert.equal(body.access_token?.split('.').length, 3, 'a JWT access token');
  return body.access_token!;
}

describe('jwt method with a real OpenID provider (oidc-provider)', () => {
  const auth = () =>
    createAuthenticator({
      methods: [
        {
          type: 'jwt',
          jwksUrl: discovery.jwks_uri,
          issuer: discovery.issuer,
          audience: AUDIENCE,
          tenantClaim: 'kiln_tenant',
          tenantDefault: 'oidc-default',
          requiredClaims: ['client_id'],
        },
      ],
    });
  const request = (token: string) =>
    new Request('http://gateway.test/api/v1/jobs', { headers: { authorization: `Bearer ${token}` } });

  it('accepts a client_credentials access token, tenant from the kiln_tenant claim', async () => {
    assert.equal(discovery.issuer, issuer);
    const principal = await auth().authenticate(request(await accessToken(0)));
    assert.deepEqual(principal, { sub: 'ci-runner', tenant: 'acme', method: 'jwt', admin: false });
  });

  it('falls back to tenantDefault for a client the provider gives no tenant claim', async () => {
    const principal = await auth().authenticate(request(await accessToken(1)));
    assert.deepEqual(principal, { sub: 'dev-laptop', tenant: 'oidc-default', method: 'jwt', admin: false });
  });

  it('rejects the same token for another audience', async () => {
    const other = createAuthenticator({
      methods: [
        { type: 'jwt', jwksUrl: discovery.jwks_uri, issuer: discovery.issuer, audience: 'urn:other' },
      ],
    });
    await assert.rejects(other.authenticate(request(await accessToken(0))), {
      code: 'ERR_UNAUTHENTICATED',
      message: /"aud" claim/,
    });
  });
});
