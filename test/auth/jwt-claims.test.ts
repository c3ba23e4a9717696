/**
 * Claim paths and rules of the `jwt` method (nested claims, role arrays, namespaced claim names,
 * patterns), the 503 while keys are being fetched, the credential size limit, and config
 * validation that lists every problem at once. Tokens are signed by a local JWKS server.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { createAuthenticator } from '../../gateway/auth/authenticate.ts';
import { gatewayConfigSchema } from '../../gateway/config.ts';
import { loadClientConfig } from '../../client/config.ts';
import type { AuthConfig, AuthMethodConfig } from '../../gateway/auth/config.ts';
import { patternRegExp } from '../../gateway/auth/claims.ts';
import { KilnError } from '../../protocol/errors.ts';
import { startJwksServer, type JwksServer } from '../helpers/jwks.ts';

let jwks: JwksServer;
before(async () => {
  jwks = await startJwksServer();
});
after(() => jwks.stop());

function method(extra: Partial<Extract<AuthMethodConfig, { type: 'jwt' }>> = {}): AuthMethodConfig {
  return { type: 'jwt', jwksUrl: jwks.url, issuer: jwks.issuer, audience: jwks.audience, ...extra };
}
const request = (token: string): Request =>
  new Request('http://gateway.test/api/v1/status', { headers: { authorization: `Bearer ${token}` } });

async function failure(promise: Promise<unknown>): Promise<KilnError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof KilnError, `expected a KilnError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a refusal');
}

describe('jwt claim paths and rules', () => {
  it('reads tenant and admin from nested claims and role arrays (Keycloak shape)', async () => {
    const auth = createAuthenticator({
      methods: [
        method({ tenantClaim: 'org.id', adminClaim: 'realm_access.roles', adminValue: 'kiln-admin' }),
      ],
    });
    const admin = await jwks.sign({
      sub: 'ops',
      org: { id: 'acme' },
      realm_access: { roles: ['user', 'kiln-admin'] },
    });
    assert.deepEqual(await auth.authenticate(request(admin)), {
      sub: 'ops',
      tenant: 'acme',
      method: 'jwt',
      admin: true,
    });
    const user = await jwks.sign({ sub: 'dev', org: { id: 'acme' }, realm_access: { roles: ['user'] } });
    assert.equal((await auth.authenticate(request(user))).admin, false);
    const flat = await jwks.sign({ sub: 'dev', 'org.id': 'flat-wins' });
    assert.equal(
      (await auth.authenticate(request(flat))).tenant,
      'flat-wins',
      'an exact top-level name wins',
    );
    const err = await failure(auth.authenticate(request(await jwks.sign({ sub: 'dev', org: 'acme' }))));
    assert.match(err.message, /claim "org.id" is missing or not a string/);
  });

  it('takes a namespaced claim name (Auth0 shape) and a path given as a list', async () => {
    const auth = createAuthenticator({
      methods: [
        method({
          tenantClaim: 'https://acme.test/tenant',
          adminClaim: ['https://acme.test/app', 'roles'],
          adminValue: 'admin',
        }),
      ],
    });
    const token = await jwks.sign({
      sub: 'a',
      'https://acme.test/tenant': 'acme',
      'https://acme.test/app': { roles: ['admin'] },
    });
    assert.deepEqual(await auth.authenticate(request(token)), {
      sub: 'a',
      tenant: 'acme',
      method: 'jwt',
      admin: true,
    });
  });

  it('requires claim values: exact, patterns, any of a list, group membership, booleans', async () => {
    const auth = createAuthenticator({
      methods: [
        method({
          claims: {
            groups: 'kiln-users',
            email_verified: true,
            'org.plan': ['team', 'enterprise'],
            email: '*@acme.test',
          },
        }),
      ],
    });
    const good = {
      sub: 'a',
      tenant: 't',
      groups: ['staff', 'kiln-users'],
      email_verified: true,
      org: { plan: 'team' },
      email: 'a@acme.test',
    };
    assert.equal((await auth.authenticate(request(await jwks.sign(good)))).sub, 'a');
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ groups: ['staff'] }, /claim "groups" does not match/],
      [{ email_verified: 'true' }, /claim "email_verified" does not match/],
      [{ org: { plan: 'free' } }, /claim "org.plan" does not match/],
      [{ email: 'a@evil.test' }, /claim "email" does not match/],
      [{ email: 'a/b@acme.test' }, /claim "email" does not match/],
      [{ groups: undefined }, /claim "groups" is required/],
    ];
    for (const [change, why] of bad) {
      const err = await failure(auth.authenticate(request(await jwks.sign({ ...good, ...change }))));
      assert.equal(err.code, 'ERR_UNAUTHENTICATED');
      assert.match(err.message, why);
    }
  });

  it('patterns: * stays inside a segment (no "/" or ":"), ** crosses them, the rest is literal', () => {
    assert.ok(patternRegExp('repo:acme/*:ref:refs/heads/main').test('repo:acme/app:ref:refs/heads/main'));
    assert.ok(!patternRegExp('repo:acme/*:ref:refs/heads/main').test('repo:acme/a:b:ref:refs/heads/main'));
    assert.ok(!patternRegExp('repo:acme/*:ref:refs/heads/main').test('repo:acme/a/b:ref:refs/heads/main'));
    assert.ok(patternRegExp('repo:acme/app:**').test('repo:acme/app:environment:prod'));
    assert.ok(!patternRegExp('a.b').test('axb'), 'a dot is a dot');
    assert.ok(!patternRegExp('refs/tags/v*').test('refs/tags/v1/evil'));
  });
});

describe('jwt key fetching and request limits', () => {
  it('answers 503 with Retry-After while the keys are being fetched, then verifies once they arrive', async () => {
    const auth = createAuthenticator({ methods: [method({ fetchWaitMs: 100 })] });
    const token = await jwks.sign({ sub: 'a', tenant: 't' });
    jwks.hold();
    const err = await failure(auth.authenticate(request(token)));
    assert.equal(err.code, 'ERR_UNAVAILABLE');
    assert.equal(err.retryAfter, 1);
    assert.match(err.message, /keys are being fetched/);
    jwks.release();
    assert.equal((await auth.authenticate(request(token))).sub, 'a');
  });

  it('refuses a credential over maxTokenBytes with ERR_CREDENTIAL_TOO_LARGE (431), before any method', async () => {
    const auth = createAuthenticator({ methods: [method()] });
    const before = jwks.requests;
    const err = await failure(auth.authenticate(request('x'.repeat(100 * 1024))));
    assert.equal(err.code, 'ERR_CREDENTIAL_TOO_LARGE');
    assert.equal(err.status, 431);
    assert.equal(jwks.requests, before, 'no key was fetched for it');
    const small = createAuthenticator({ methods: [method()], maxTokenBytes: 256 });
    assert.equal(
      (await failure(small.authenticate(request('y'.repeat(400))))).code,
      'ERR_CREDENTIAL_TOO_LARGE',
    );
  });

  it('validates the config at start and lists every problem at once, with its path', () => {
    const config = {
      methods: [
        { type: 'jwt', issuer: ['https://a.test', 'https://b.test'], audience: 'x' },
        { type: 'jwt', issuer: 'http://idp.example', audience: 'x', claims: { ref: [] } },
        { type: 'proxy_token', url: 'http://auth.example/check', cacheSec: -1 },
      ],
    } as unknown as AuthConfig;
    let thrown: unknown;
    try {
      createAuthenticator(config, () => {});
    } catch (err) {
      thrown = err;
    }
    assert.ok(thrown instanceof KilnError && thrown.code === 'ERR_CONFIG', String(thrown));
    const problems = (thrown.detail?.problems as { path: string }[]).map((p) => p.path).sort();
    assert.deepEqual(problems, [
      'methods[0].jwksUrl',
      'methods[1].claims.ref',
      'methods[1].issuer',
      'methods[2].cacheSec',
      'methods[2].url',
    ]);
  });
});

describe('documented configurations', () => {
  it('every TOML example in docs/identity.md is a valid gateway auth or client config', () => {
    const doc = readFileSync(new URL('../../docs/identity.md', import.meta.url), 'utf8');
    const blocks = [...doc.matchAll(/```toml\n([^]*?)```/g)].map((m) => m[1]!);
    const gateway = blocks.filter((b) => b.includes('[[auth.methods]]'));
    const client = blocks.filter((b) => !b.includes('[[auth.methods]]'));
    assert.ok(gateway.length >= 2 && client.length >= 1);
    for (const block of gateway) {
      const { auth } = parseToml(block) as { auth: AuthConfig };
      assert.doesNotThrow(() => createAuthenticator(auth, () => {}), block.slice(0, 80));
    }
    const dir = mkdtempSync(join(tmpdir(), 'kiln-doc-'));
    try {
      for (const block of client) {
        writeFileSync(join(dir, 'kiln.toml'), block);
        const cfg = loadClientConfig(dir, { KILN_CONFIG: join(dir, 'kiln.toml') });
        assert.ok(cfg.auth.issuer && cfg.auth.clientId, block.slice(0, 80));
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('docs/examples/gateway.toml is a valid gateway config', () => {
    const text = readFileSync(new URL('../../docs/examples/gateway.toml', import.meta.url), 'utf8');
    const cfg = gatewayConfigSchema.parse(parseToml(text));
    assert.equal(cfg.auth.methods.length, 3);
  });
});
