/**
 * The `jwt` method against a REAL OpenID provider (oidc-provider, in-process on 127.0.0.1):
 * client_credentials access tokens, keys found by discovery, and the cases issue 11 found wrong
 * (future `iat`, key rotation, a re-used `kid`, an IdP outage), each driven through the provider.
 * The key set's clock is simulated (`now`), so a 15-minute outage takes no time.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT, importJWK } from 'jose';
import { createAuthenticator } from '../../gateway/auth/authenticate.ts';
import type { AuthMethodConfig } from '../../gateway/auth/config.ts';
import { KilnError } from '../../protocol/errors.ts';
import { AUDIENCE, signingKey, startOidc, type Oidc } from '../helpers/oidc.ts';

let oidc: Oidc;
before(async () => {
  oidc = await startOidc();
});
after(() => oidc.stop());

/** A simulated clock for the key set and the claim checks; starts at the real time. */
function clock(): { now: () => number; advance(ms: number): void } {
  let t = Date.now();
  return { now: () => t, advance: (ms) => void (t += ms) };
}

function method(extra: Partial<Extract<AuthMethodConfig, { type: 'jwt' }>> = {}): AuthMethodConfig {
  return {
    type: 'jwt',
    issuer: oidc.issuer, // no jwksUrl: discovered from /.well-known/openid-configuration
    audience: AUDIENCE,
    tenantClaim: 'kiln_tenant',
    tenantDefault: 'oidc-default',
    requiredClaims: ['client_id'],
    ...extra,
  };
}

const request = (token: string): Request =>
  new Request('http://gateway.test/api/v1/jobs', { headers: { authorization: `Bearer ${token}` } });

/** The error `authenticate` fails with. */
async function failure(promise: Promise<unknown>): Promise<KilnError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof KilnError, `expected a KilnError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a refusal');
}

/** A token signed with the provider's own current key, with `claims` as given (forged iat and such). */
async function providerSigned(claims: Record<string, unknown>): Promise<string> {
  const key = oidc.keys[0]!;
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({
    iss: oidc.issuer,
    aud: AUDIENCE,
    sub: 'ci-runner',
    client_id: 'ci-runner',
    iat: now,
    exp: now + 600,
    ...claims,
  })
    .setProtectedHeader({ alg: 'RS256', kid: key.kid, typ: 'at+jwt' })
    .sign(await importJWK(key, 'RS256'));
}

describe('jwt method with a real OpenID provider (oidc-provider)', () => {
  it('accepts a client_credentials access token, keys found by discovery, tenant from kiln_tenant', async () => {
    const auth = createAuthenticator({ methods: [method({ typ: 'at+jwt', scopes: ['build'] })] });
    const principal = await auth.authenticate(request(await oidc.clientCredentials(0)));
    assert.deepEqual(principal, { sub: 'ci-runner', tenant: 'acme', method: 'jwt', admin: false });
  });

  it('falls back to tenantDefault for a client the provider gives no tenant claim', async () => {
    const auth = createAuthenticator({ methods: [method()] });
    const principal = await auth.authenticate(request(await oidc.clientCredentials(1)));
    assert.deepEqual(principal, { sub: 'dev-laptop', tenant: 'oidc-default', method: 'jwt', admin: false });
  });

  it('holds the token to audience, scope, client and typ rules', async () => {
    const token = await oidc.clientCredentials(0);
    const cases: [Partial<Extract<AuthMethodConfig, { type: 'jwt' }>>, RegExp][] = [
      [{ audience: 'urn:other' }, /"aud" claim/],
      [{ scopes: ['build', 'admin'] }, /scope "admin" not granted/],
      [
        { authorizedParties: ['dev-laptop'] },
        /client \("azp" or "client_id"\) is not one the gateway accepts/,
      ],
      [{ typ: 'kiln+jwt' }, /"typ"/],
    ];
    for (const [extra, why] of cases) {
      const err = await failure(
        createAuthenticator({ methods: [method(extra)] }).authenticate(request(token)),
      );
      assert.equal(err.code, 'ERR_UNAUTHENTICATED', String(why));
      assert.match(err.message, why);
    }
    const ok = createAuthenticator({
      methods: [method({ authorizedParties: ['ci-runner'], scopes: ['build'] })],
    });
    assert.equal((await ok.authenticate(request(token))).sub, 'ci-runner');
  });

  it('refuses an iat in the future beyond the clock tolerance (one hour, ten years), allows it within', async () => {
    const auth = createAuthenticator({ methods: [method({ clockToleranceSec: 30 })] });
    const now = Math.floor(Date.now() / 1000);
    for (const ahead of [3600, 10 * 365 * 86_400]) {
      const err = await failure(
        auth.authenticate(request(await providerSigned({ iat: now + ahead, exp: now + ahead + 600 }))),
      );
      assert.equal(err.code, 'ERR_UNAUTHENTICATED');
      assert.match(err.message, /"iat" is in the future/);
    }
    assert.equal(
      (await auth.authenticate(request(await providerSigned({ iat: now + 10 })))).sub,
      'ci-runner',
    );
  });

  it('refuses a header whose typ is not a string with 401, before any key is fetched', async () => {
    const auth = createAuthenticator({ methods: [method()] });
    const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');
    for (const typ of [1, { a: 1 }, ['JWT'], null]) {
      const token = `${b64({ alg: 'ES256', typ })}.${b64({ iss: oidc.issuer, sub: 'x' })}.`;
      const err = await failure(auth.authenticate(request(token)));
      assert.equal(err.code, 'ERR_UNAUTHENTICATED');
      assert.match(err.message, /header "typ" must be a string/);
    }
  });

  it('after a rotation a new-key token is answered 503 with Retry-After within the cooldown, then accepted', async () => {
    const t = clock();
    const auth = createAuthenticator({ methods: [method({ cooldownSec: 1 })] }, undefined, { now: t.now });
    assert.equal((await auth.authenticate(request(await oidc.clientCredentials(0)))).sub, 'ci-runner');
    await oidc.stop();
    await oidc.start([await signingKey('oidc-2'), ...oidc.keys]); // the provider signs with oidc-2 now
    const fresh = await oidc.clientCredentials(0);
    const err = await failure(auth.authenticate(request(fresh)));
    assert.equal(err.code, 'ERR_UNAVAILABLE', err.message);
    assert.equal(err.status, 503);
    assert.equal(err.retryAfter, 1);
    t.advance(1000); // the client waits Retry-After
    assert.equal((await auth.authenticate(request(fresh))).sub, 'ci-runner');
  });

  it('after a rotation, once the cooldown since the last fetch has run, a new-key token is accepted at once', async () => {
    const t = clock();
    const auth = createAuthenticator({ methods: [method({ cooldownSec: 1 })] }, undefined, { now: t.now });
    assert.equal((await auth.authenticate(request(await oidc.clientCredentials(0)))).sub, 'ci-runner');
    t.advance(5000); // well inside cacheMaxAgeSec: the keys are still fresh
    await oidc.stop();
    await oidc.start([await signingKey('oidc-3'), ...oidc.keys]);
    assert.equal((await auth.authenticate(request(await oidc.clientCredentials(0)))).sub, 'ci-runner');
  });

  it('a re-used kid with new key material is fetched again; an old token under the replaced key is refused', async () => {
    await oidc.stop();
    await oidc.start([await signingKey('reused')]);
    const t = clock();
    const auth = createAuthenticator({ methods: [method({ cooldownSec: 1 })] }, undefined, { now: t.now });
    const before = await oidc.clientCredentials(0);
    assert.equal((await auth.authenticate(request(before))).sub, 'ci-runner');
    await oidc.stop();
    await oidc.start([await signingKey('reused')]); // same kid, other key
    t.advance(2000);
    assert.equal((await auth.authenticate(request(await oidc.clientCredentials(0)))).sub, 'ci-runner');
    t.advance(40_000); // past the clock tolerance: the old token predates the keys now held
    const err = await failure(auth.authenticate(request(before)));
    assert.equal(err.code, 'ERR_UNAUTHENTICATED');
    assert.match(err.message, /signature verification failed/);
  });

  it('a 15-minute IdP outage keeps valid tokens working on stale keys, for a bounded time', async () => {
    const t = clock();
    const auth = createAuthenticator(
      { methods: [method({ cacheMaxAgeSec: 600, staleIfErrorSec: 1800 })] },
      undefined,
      { now: t.now },
    );
    const token = await oidc.clientCredentials(0);
    assert.equal((await auth.authenticate(request(token))).sub, 'ci-runner');
    await oidc.stop(); // the outage begins: connections are refused
    for (let minute = 1; minute <= 15; minute++) {
      t.advance(60_000);
      assert.equal((await auth.authenticate(request(token))).sub, 'ci-runner', `minute ${minute}`);
    }
    t.advance(30 * 60_000); // 45 min: past cacheMaxAgeSec + staleIfErrorSec
    const err = await failure(auth.authenticate(request(token)));
    assert.equal(err.code, 'ERR_UNAVAILABLE');
    assert.match(err.message, /JWKS unavailable/);
    assert.ok((err.retryAfter ?? 0) >= 1, 'a Retry-After');
    await oidc.start(); // back
    t.advance(1000);
    assert.equal((await auth.authenticate(request(await oidc.clientCredentials(0)))).sub, 'ci-runner');
  });
});
