/**
 * A REAL OpenID provider for auth tests: node-oidc-provider in-process on 127.0.0.1, with
 * - `ci-runner` and `dev-laptop`: confidential clients for the client_credentials grant,
 * - `kiln-cli`: a public native client for the device flow and authorization code + PKCE
 *   (loopback redirect on any port), with refresh tokens,
 * JWT access tokens for the resource {@link AUDIENCE}, and the development interactions
 * (login with any name, then consent) that a test drives over HTTP like a browser.
 * It can be stopped (an outage) and started again on the same issuer with other keys (rotation).
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import assert from 'node:assert/strict';
import { exportJWK, generateKeyPair } from 'jose';
import type { JWK } from 'jose';
import { freePort } from './ports.ts';

/** The parts of oidc-provider's (untyped) API these tests use. */
interface Provider {
  callback(): (req: IncomingMessage, res: ServerResponse) => void;
}
type ProviderClass = new (issuer: string, configuration: Record<string, unknown>) => Provider;
interface TokenLike {
  clientId?: string;
}

const OIDC_PROVIDER = 'oidc-provider'; // a variable specifier: the package ships no type declarations
export const AUDIENCE = 'urn:kiln:gateway';
const TENANTS: Record<string, string> = { 'ci-runner': 'acme', 'kiln-cli': 'acme' };

export const CONFIDENTIAL = ['ci-runner', 'dev-laptop'].map((id) => ({
  client_id: id,
  client_secret: `${id}-secret-0123456789abcdef`,
}));

/** A private signing key as oidc-provider takes it (and as a test forges tokens with it). */
export type SigningJwk = JWK & { kid: string; alg: string };

/** A fresh RS256 signing key named `kid`. */
export async function signingKey(kid: string): Promise<SigningJwk> {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  return { ...(await exportJWK(privateKey)), kid, alg: 'RS256', use: 'sig' };
}

export interface Oidc {
  issuer: string;
  /** The signing keys served now (the first one signs). */
  keys: SigningJwk[];
  /** Stops serving (an outage): connections are refused until `start`. */
  stop(): Promise<void>;
  /** Serves again on the same issuer, with `keys` when given (a rotation). */
  start(keys?: SigningJwk[]): Promise<void>;
  /** A client_credentials access token for `CONFIDENTIAL[client]`. */
  clientCredentials(client?: number): Promise<string>;
}

/** Starts the provider on a free port with `keys` (default: one new key). */
export async function startOidc(opts: { keys?: SigningJwk[]; accessTokenTtl?: number } = {}): Promise<Oidc> {
  const { default: ProviderCtor } = (await import(OIDC_PROVIDER)) as { default: ProviderClass };
  const issuer = `http://127.0.0.1:${await freePort()}`;
  let server: Server | null = null;
  const self: Oidc = {
    issuer,
    keys: opts.keys ?? [await signingKey('oidc-1')],
    async start(keys) {
      assert.equal(server, null, 'the provider is already serving: stop it first');
      if (keys) self.keys = keys;
      const provider = new ProviderCtor(issuer, configuration(self.keys, opts.accessTokenTtl ?? 3600));
      server = createServer(provider.callback());
      await new Promise<void>((resolve) =>
        server!.listen(Number(new URL(issuer).port), '127.0.0.1', resolve),
      );
    },
    async stop() {
      const s = server;
      server = null;
      if (s === null) return;
      s.closeAllConnections();
      await new Promise((resolve) => s.close(resolve));
    },
    async clientCredentials(client = 0) {
      const c = CONFIDENTIAL[client]!;
      const res = await fetch(`${issuer}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'client_credentials',
          scope: 'build',
          resource: AUDIENCE,
          client_id: c.client_id,
          client_secret: c.client_secret,
        }),
      });
      const body = (await res.json()) as { access_token?: string; token_type?: string };
      assert.equal(res.status, 200, JSON.stringify(body));
      assert.equal(body.access_token?.split('.').length, 3, 'a JWT access token');
      return body.access_token!;
    },
  };
  await self.start();
  return self;
}

function configuration(keys: SigningJwk[], ttl: number): Record<string, unknown> {
  return {
    clients: [
      ...CONFIDENTIAL.map((c) => ({
        ...c,
        grant_types: ['client_credentials'],
        redirect_uris: [],
        response_types: [],
        token_endpoint_auth_method: 'client_secret_post',
      })),
      {
        client_id: 'kiln-cli',
        application_type: 'native',
        token_endpoint_auth_method: 'none',
        grant_types: ['urn:ietf:params:oauth:grant-type:device_code', 'authorization_code', 'refresh_token'],
        response_types: ['code'],
        redirect_uris: ['http://127.0.0.1/callback'],
      },
    ],
    jwks: { keys },
    cookies: { keys: ['a-cookie-key-for-tests-only'] },
    ttl: { ClientCredentials: ttl, AccessToken: ttl },
    scopes: ['openid', 'offline_access', 'build'],
    features: {
      clientCredentials: { enabled: true },
      deviceFlow: { enabled: true },
      devInteractions: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => AUDIENCE,
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({
          scope: 'build',
          audience: AUDIENCE,
          accessTokenTTL: ttl,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        }),
      },
    },
    extraTokenClaims: (_ctx: unknown, token: TokenLike) => {
      const tenant = token.clientId === undefined ? undefined : TENANTS[token.clientId];
      return tenant === undefined ? undefined : { kiln_tenant: tenant };
    },
  };
}
