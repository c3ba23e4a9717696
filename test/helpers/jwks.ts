/**
 * A local JWKS server for auth tests: serves the public halves of an RSA (RS256) and an EC
 * (ES256) key on 127.0.0.1, counts requests, rotates keys, and mints tokens, bad ones included.
 */
import { createServer } from 'node:http';
import { createHmac } from 'node:crypto';
import { SignJWT, exportJWK, exportSPKI, generateKeyPair } from 'jose';
import type { CryptoKey, JWK, JWTPayload } from 'jose';
import { freePort } from './ports.ts';

export type TestAlg = 'RS256' | 'ES256';

interface KeyPair {
  kid: string;
  alg: TestAlg;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
}

/** How `sign` mints a token. Defaults make a valid RS256 token for the server's issuer/audience. */
export interface SignOptions {
  /**
   * 'none' builds an unsigned token by hand; 'HS256-public' signs with HMAC keyed by the RSA
   * PUBLIC key's PEM (the key-confusion attack). @default 'RS256'
   */
  alg?: TestAlg | 'none' | 'HS256-public';
  /** @default the serving key's kid */
  kid?: string;
  /** Header `typ`; unset by default. */
  typ?: string;
  /** @default server.issuer */
  iss?: string;
  /** @default server.audience */
  aud?: string | string[];
  /** `exp` in seconds from now; null leaves `exp` out. @default 300 */
  expInSec?: number | null;
  /** Sign with this key instead of the served one (a key the JWKS does not hold). */
  privateKey?: CryptoKey;
}

export interface JwksServer {
  /** The JWKS URL. */
  url: string;
  issuer: string;
  audience: string;
  /** How many times the JWKS was fetched. */
  readonly requests: number;
  /** While set, JWKS requests are held unanswered until `release` (a stalled provider). */
  hold(): void;
  release(): void;
  /** Replaces both keys by new ones with new kids. */
  rotate(): Promise<void>;
  /** Mints a token with `claims` (the payload, merged over iss/aud/iat/exp). */
  sign(claims: JWTPayload, opts?: SignOptions): Promise<string>;
  stop(): Promise<void>;
}

let generation = 0;

async function makeKey(alg: TestAlg): Promise<KeyPair> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { kid: `${alg.toLowerCase()}-${++generation}`, alg, privateKey, publicKey };
}

async function publicJwk(k: KeyPair): Promise<JWK> {
  return { ...(await exportJWK(k.publicKey)), kid: k.kid, alg: k.alg, use: 'sig' };
}

const b64url = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

/** Starts a JWKS server on a free 127.0.0.1 port. */
export async function startJwksServer(): Promise<JwksServer> {
  let keys = { RS256: await makeKey('RS256'), ES256: await makeKey('ES256') };
  let body = '';
  const publish = async (): Promise<void> => {
    body = JSON.stringify({ keys: [await publicJwk(keys.RS256), await publicJwk(keys.ES256)] });
  };
  await publish();
  let requests = 0;
  let held: (() => void)[] | null = null;
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const server = createServer((req, res) => {
    if (req.url === '/.well-known/openid-configuration') {
      const doc = {
        issuer: base,
        jwks_uri: `${base}/jwks.json`,
        id_token_signing_alg_values_supported: ['RS256'],
      };
      return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(doc));
    }
    if (req.url !== '/jwks.json') return void res.writeHead(404).end();
    requests++;
    const answer = (): void =>
      void res.writeHead(200, { 'content-type': 'application/jwk-set+json' }).end(body);
    if (held !== null) held.push(answer);
    else answer();
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const self: JwksServer = {
    url: `${base}/jwks.json`,
    issuer: base,
    audience: 'urn:kiln:gateway',
    get requests() {
      return requests;
    },
    hold() {
      held ??= [];
    },
    release() {
      const waiting = held ?? [];
      held = null;
      for (const answer of waiting) answer();
    },
    async rotate() {
      keys = { RS256: await makeKey('RS256'), ES256: await makeKey('ES256') };
      await publish();
    },
    async sign(claims, opts = {}) {
      const now = Math.floor(Date.now() / 1000);
      const payload: JWTPayload = { iss: opts.iss ?? self.issuer, aud: opts.aud ?? self.audience, iat: now };
      if (opts.expInSec !== null) payload.exp = now + (opts.expInSec ?? 300);
      Object.assign(payload, claims);
      const alg = opts.alg ?? 'RS256';
      if (alg === 'none' || alg === 'HS256-public') {
        const header = {
          alg: alg === 'none' ? 'none' : 'HS256',
          kid: opts.kid ?? keys.RS256.kid,
          typ: opts.typ,
        };
        const input = `${b64url(header)}.${b64url(payload)}`;
        if (alg === 'none') return `${input}.`;
        const secret = await exportSPKI(keys.RS256.publicKey);
        return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
      }
      const key = keys[alg];
      return new SignJWT(payload)
        .setProtectedHeader({ alg, kid: opts.kid ?? key.kid, ...(opts.typ ? { typ: opts.typ } : {}) })
        .sign(opts.privateKey ?? key.privateKey);
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
    },
  };
  return self;
}

/** A key pair the server never serves (for unknown-kid tokens). */
export async function strayKey(alg: TestAlg = 'RS256'): Promise<CryptoKey> {
  return (await generateKeyPair(alg)).privateKey;
}
