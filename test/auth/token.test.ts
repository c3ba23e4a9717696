import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createAuthenticator, INSECURE_WARNING } from '../../gateway/auth/authenticate.ts';
import type { AuthConfig } from '../../gateway/auth/config.ts';
import { KilnError } from '../../protocol/errors.ts';
import { startJwksServer } from '../helpers/jwks.ts';
import type { JwksServer } from '../helpers/jwks.ts';

const CI_TOKEN = 'ci-token-0123456789abcdef';
const DEV_TOKEN = 'dev-token-fedcba9876543210';
const devSha = createHash('sha256').update(DEV_TOKEN).digest('hex');

const tokenConfig: AuthConfig = {
  methods: [
    {
      type: 'token',
      tokens: [
        { token: CI_TOKEN, sub: 'ci', tenant: 'acme', admin: true },
        { sha256: devSha.toUpperCase(), sub: 'dev', tenant: 'acme' },
      ],
    },
  ],
};

function request(authorization?: string): Request {
  const headers: Record<string, string> = authorization === undefined ? {} : { authorization };
  return new Request('http://gateway.test/api/v1/status', { headers });
}

async function unauthenticated(promise: Promise<unknown>, why: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof KilnError);
    assert.equal(err.code, 'ERR_UNAUTHENTICATED');
    assert.match(err.message, why);
    return true;
  });
}

/** The problems of an ERR_CONFIG thrown by `createAuthenticator(config)`. */
function configProblems(config: unknown): { path: string; message: string }[] {
  try {
    createAuthenticator(config as AuthConfig, () => {});
  } catch (err) {
    assert.ok(err instanceof KilnError);
    assert.equal(err.code, 'ERR_CONFIG');
    const problems = err.detail?.problems as { path: string; message: string }[];
    for (const p of problems) assert.ok(err.message.includes(`${p.path}: ${p.message}`), err.message);
    return problems;
  }
  assert.fail('expected ERR_CONFIG');
}

describe('token auth method', () => {
  const auth = createAuthenticator(tokenConfig);

  it('accepts a plaintext-configured token', async () => {
    assert.deepEqual(await auth.authenticate(request(`Bearer ${CI_TOKEN}`)), {
      sub: 'ci',
      tenant: 'acme',
      method: 'token',
      admin: true,
    });
  });

  it('accepts a token configured by its SHA-256 (any hex case), with the bearer scheme in any case', async () => {
    assert.deepEqual(await auth.authenticate(request(`bearer ${DEV_TOKEN}`)), {
      sub: 'dev',
      tenant: 'acme',
      method: 'token',
      admin: false,
    });
  });

  it('rejects a wrong token, a near miss, a missing header and a non-bearer header without leaking them', async () => {
    for (const wrong of ['nope-nope-nope-nope', CI_TOKEN.slice(0, -1), `${CI_TOKEN}x`, devSha]) {
      await unauthenticated(
        auth.authenticate(request(`Bearer ${wrong}`)),
        /not accepted by any configured auth method \(token\)/,
      );
    }
    await unauthenticated(auth.authenticate(request()), /missing credential/);
    await unauthenticated(
      auth.authenticate(request(`Basic ${btoa(`ci:${CI_TOKEN}`)}`)),
      /must be "Bearer <token>"/,
    );
  });
});

describe('method order: jwt first, then token', () => {
  let jwks: JwksServer;
  before(async () => {
    jwks = await startJwksServer();
  });
  after(() => jwks.stop());

  it('tries jwt, falls through to token for a non-JWT credential, and stops at an invalid JWT', async () => {
    const auth = createAuthenticator({
      methods: [
        { type: 'jwt', jwksUrl: jwks.url, issuer: jwks.issuer, audience: jwks.audience },
        ...tokenConfig.methods,
      ],
    });
    assert.deepEqual(auth.methods, ['jwt', 'token']);
    const jwt = await jwks.sign({ sub: 'alice', tenant: 'acme' });
    assert.equal((await auth.authenticate(request(`Bearer ${jwt}`))).method, 'jwt');
    assert.equal((await auth.authenticate(request(`Bearer ${CI_TOKEN}`))).method, 'token');
    const expired = await jwks.sign({ sub: 'alice', tenant: 'acme' }, { expInSec: -3600 });
    await unauthenticated(auth.authenticate(request(`Bearer ${expired}`)), /jwt rejected: token expired/);
    await unauthenticated(
      auth.authenticate(request('Bearer x.y.z')),
      /not accepted by any configured auth method \(jwt, token\)/,
    );
  });
});

describe('insecure auth method', () => {
  it('accepts anything, with or without a credential, and warns loudly exactly once', async () => {
    const logged: string[] = [];
    const auth = createAuthenticator({ methods: [...tokenConfig.methods, { type: 'insecure' }] }, (m) =>
      logged.push(m),
    );
    const dev = { sub: 'dev', tenant: 'dev', method: 'insecure', admin: true };
    assert.deepEqual(await auth.authenticate(request()), dev);
    assert.deepEqual(await auth.authenticate(request('Bearer whatever')), dev);
    assert.deepEqual(await auth.authenticate(request('Basic Zm9vOmJhcg==')), dev);
    assert.equal(
      (await auth.authenticate(request(`Bearer ${CI_TOKEN}`))).method,
      'token',
      'earlier methods still win',
    );
    assert.deepEqual(logged, [INSECURE_WARNING]);
    assert.match(logged[0] ?? '', /insecure.*Development only/s);
  });

  it('uses the configured principal and does not warn when insecure is not configured', async () => {
    const logged: string[] = [];
    const auth = createAuthenticator(
      { methods: [{ type: 'insecure', sub: 'me', tenant: 'lab', admin: false }] },
      (m) => logged.push(m),
    );
    assert.deepEqual(await auth.authenticate(request()), {
      sub: 'me',
      tenant: 'lab',
      method: 'insecure',
      admin: false,
    });
    createAuthenticator(tokenConfig, (m) => logged.push(m));
    assert.equal(logged.length, 1);
  });
});

describe('auth config validation', () => {
  const jwt = {
    type: 'jwt',
    jwksUrl: 'https://idp.example/jwks.json',
    issuer: 'https://idp.example',
    audience: 'kiln',
  };

  it('rejects HMAC and none algorithms, naming each with its path', () => {
    const problems = configProblems({
      methods: [{ ...jwt, algorithms: ['RS256', 'HS256', 'none', 'hs512'] }],
    });
    assert.deepEqual(
      problems.map((p) => p.path),
      ['methods[0].algorithms[1]', 'methods[0].algorithms[2]', 'methods[0].algorithms[3]'],
    );
    assert.match(problems[0]?.message ?? '', /key-confusion/);
    assert.match(problems[1]?.message ?? '', /"none" is never allowed/);
  });

  it('rejects an empty method list', () => {
    assert.deepEqual(configProblems({ methods: [] }), [
      { path: 'methods', message: 'configure at least one auth method' },
    ]);
  });

  it('reports every problem at once: unknown fields, short tokens, bad URLs, unknown types', () => {
    const problems = configProblems({
      methods: [
        { ...jwt, jwksUrl: 'http://idp.example/jwks.json', audiance: 'kiln' },
        {
          type: 'token',
          tokens: [
            { token: 'short', sub: 'a', tenant: 't' },
            { sub: 'b', tenant: 't', sha256: 'zz' },
          ],
        },
        { type: 'insecure', tenant: 'dev', extra: 1 },
        { type: 'kerberos' },
      ],
      proxy: true,
    });
    const paths = problems.map((p) => p.path).sort();
    assert.deepEqual(paths, [
      '',
      'methods[0]',
      'methods[0].jwksUrl',
      'methods[1].tokens[0].token',
      'methods[1].tokens[1].sha256',
      'methods[2]',
      'methods[3].type',
    ]);
    const text = problems.map((p) => `${p.path}: ${p.message}`).join('\n');
    assert.match(text, /audiance/);
    assert.match(text, /extra/);
    assert.match(text, /proxy/);
    assert.match(text, /https/);
  });

  it('requires exactly one of token and sha256, and no duplicates', () => {
    const problems = configProblems({
      methods: [
        {
          type: 'token',
          tokens: [
            { token: CI_TOKEN, sha256: devSha, sub: 'a', tenant: 't' },
            { sub: 'b', tenant: 't' },
            { token: DEV_TOKEN, sub: 'c', tenant: 't' },
            { token: DEV_TOKEN, sub: 'd', tenant: 't' },
          ],
        },
      ],
    });
    assert.deepEqual(
      problems.map((p) => [p.path, p.message]),
      [
        ['methods[0].tokens[0]', 'give exactly one of "token" and "sha256"'],
        ['methods[0].tokens[1]', 'give exactly one of "token" and "sha256"'],
        ['methods[0].tokens[3]', 'duplicate token'],
      ],
    );
  });

  it('applies the documented jwt defaults', async () => {
    const { authConfigSchema } = await import('../../gateway/auth/config.ts');
    const parsed = authConfigSchema.parse({ methods: [jwt] });
    assert.deepEqual(parsed.methods[0], {
      ...jwt,
      algorithms: ['RS256', 'ES256', 'EdDSA'],
      requiredClaims: [],
      clockToleranceSec: 30,
      claims: {},
      scopes: [],
      tenantClaim: 'tenant',
      subjectClaim: 'sub',
      adminValue: true,
      cacheMaxAgeSec: 600,
      cooldownSec: 1,
      staleIfErrorSec: 21_600,
      fetchTimeoutMs: 5000,
      fetchWaitMs: 2000,
    });
  });
});
