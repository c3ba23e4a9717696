import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createAuthenticator } from '../../gateway/auth/authenticate.ts';
import type { AuthMethodConfig } from '../../gateway/auth/config.ts';
import { KilnError } from '../../protocol/errors.ts';
import { signJobToken } from '../../protocol/token.ts';
import { startJwksServer, strayKey } from '../helpers/jwks.ts';
import type { JwksServer } from '../helpers/jwks.ts';

let jwks: JwksServer;
before(async () => {
  jwks = await startJwksServer();
});
after(() => jwks.stop());

function jwtMethod(extra: Partial<Extract<AuthMethodConfig, { type: 'jwt' }>> = {}): AuthMethodConfig {
  return {
    type: 'jwt',
    jwksUrl: jwks.url,
    issuer: jwks.issuer,
    audience: jwks.audience,
    cooldownSec: 0,
    ...extra,
  };
}

function request(token: string): Request {
  return new Request('http://gateway.test/api/v1/jobs', { headers: { authorization: `Bearer ${token}` } });
}

/** Asserts that authenticating `token` fails with ERR_UNAUTHENTICATED and a message matching `why`. */
async function rejects(
  auth: ReturnType<typeof createAuthenticator>,
  token: string,
  why: RegExp,
): Promise<void> {
  await assert.rejects(auth.authenticate(request(token)), (err: unknown) => {
    assert.ok(err instanceof KilnError, `expected a KilnError, got ${String(err)}`);
    assert.equal(err.code, 'ERR_UNAUTHENTICATED');
    assert.match(err.message, why);
    assert.ok(!err.message.includes(token), 'the message must not echo the credential');
    return true;
  });
}

describe('jwt auth method against a local JWKS', () => {
  it('accepts a valid RS256 token and maps sub and tenant; the JWKS is fetched lazily, then cached', async () => {
    const auth = createAuthenticator({ methods: [jwtMethod({ cooldownSec: 30 })] });
    const before = jwks.requests;
    const token = await jwks.sign({ sub: 'alice', tenant: 'acme' });
    assert.equal(jwks.requests, before, 'nothing is fetched when the method is built');
    assert.deepEqual(await auth.authenticate(request(token)), {
      sub: 'alice',
      tenant: 'acme',
      method: 'jwt',
      admin: false,
    });
    await auth.authenticate(request(await jwks.sign({ sub: 'bob', tenant: 'acme' })));
    assert.equal(jwks.requests, before + 1, 'the JWKS is fetched once and then cached');
  });

  it('accepts ES256, maps custom claims, tenant fallback and the admin marker', async () => {
    const auth = createAuthenticator({
      methods: [
        jwtMethod({
          subjectClaim: 'email',
          tenantClaim: 'org',
          tenantDefault: 'shared',
          adminClaim: 'roles',
          adminValue: 'kiln-admin',
        }),
      ],
    });
    const admin = await jwks.sign(
      { email: 'ops@acme.test', org: 'acme', roles: ['dev', 'kiln-admin'] },
      { alg: 'ES256' },
    );
    assert.deepEqual(await auth.authenticate(request(admin)), {
      sub: 'ops@acme.test',
      tenant: 'acme',
      method: 'jwt',
      admin: true,
    });
    const plain = await jwks.sign({ email: 'dev@acme.test', roles: ['dev'] });
    assert.deepEqual(await auth.authenticate(request(plain)), {
      sub: 'dev@acme.test',
      tenant: 'shared',
      method: 'jwt',
      admin: false,
    });
  });

  it('rejects a token without a tenant when no tenantDefault is configured', async () => {
    const auth = createAuthenticator({ methods: [jwtMethod()] });
    await rejects(auth, await jwks.sign({ sub: 'alice' }), /claim "tenant" is missing/);
    await rejects(
      auth,
      await jwks.sign({ sub: 'alice', tenant: 42 }),
      /claim "tenant" is missing or not a string/,
    );
  });

  it('rejects forged, expired and misaddressed tokens with a precise reason', async () => {
    const auth = createAuthenticator({ methods: [jwtMethod()] });
    const claims = { sub: 'mallory', tenant: 'acme' };
    await rejects(auth, await jwks.sign(claims, { alg: 'none' }), /algorithm "none" is not allowed/);
    await rejects(auth, await jwks.sign(claims, { alg: 'HS256-public' }), /algorithm "HS256" is not allowed/);
    await rejects(auth, await jwks.sign(claims, { expInSec: -3600 }), /token expired/);
    await rejects(auth, await jwks.sign(claims, { expInSec: null }), /missing required "exp" claim/);
    await rejects(auth, await jwks.sign(claims, { aud: 'urn:someone:else' }), /"aud" claim/);
    await rejects(
      auth,
      await jwks.sign(claims, { iss: 'https://evil.test' }),
      /no jwt method is configured for issuer "https:\/\/evil.test"/,
    );
    const stray = await jwks.sign(claims, { kid: 'not-in-the-jwks', privateKey: await strayKey() });
    await rejects(auth, stray, /no key in the JWKS matches/);
  });

  it('rejects a token whose payload was tampered with', async () => {
    const auth = createAuthenticator({ methods: [jwtMethod()] });
    const token = await jwks.sign({ sub: 'alice', tenant: 'acme' });
    const [header, payload, signature] = token.split('.') as [string, string, string];
    const bytes = Buffer.from(payload, 'base64url');
    const at = bytes.indexOf('acme');
    bytes[at] = 'e'.charCodeAt(0); // tenant "acme" becomes "ecme"
    const tampered = `${header}.${bytes.toString('base64url')}.${signature}`;
    assert.notEqual(tampered, token);
    await rejects(auth, tampered, /signature verification failed/);
  });

  it('rejects kiln job tokens, whatever key signed them', async () => {
    const auth = createAuthenticator({ methods: [jwtMethod()] });
    const job = signJobToken(
      crypto.getRandomValues(new Uint8Array(32)),
      { jti: 'j1', bid: 'b1', sub: 'alice', tenant: 'acme' },
      60,
    );
    await rejects(auth, job, /job tokens are not client credentials/);
    const typed = await jwks.sign({ sub: 'alice', tenant: 'acme' }, { typ: 'application/kiln-job+jwt' });
    await rejects(auth, typed, /job tokens are not client credentials/);
  });

  it('honours the clock tolerance for exp and nbf', async () => {
    const auth = createAuthenticator({ methods: [jwtMethod({ clockToleranceSec: 60 })] });
    const now = Math.floor(Date.now() / 1000);
    const claims = { sub: 'alice', tenant: 'acme' };
    assert.equal((await auth.authenticate(request(await jwks.sign(claims, { expInSec: -20 })))).sub, 'alice');
    assert.equal(
      (await auth.authenticate(request(await jwks.sign({ ...claims, nbf: now + 20 })))).sub,
      'alice',
    );
    await rejects(auth, await jwks.sign(claims, { expInSec: -120 }), /token expired/);
    await rejects(auth, await jwks.sign({ ...claims, nbf: now + 120 }), /"nbf" claim/);
    const strict = createAuthenticator({ methods: [jwtMethod({ clockToleranceSec: 0 })] });
    await rejects(strict, await jwks.sign(claims, { expInSec: -20 }), /token expired/);
  });

  it('re-fetches the JWKS when keys rotate', async () => {
    const auth = createAuthenticator({ methods: [jwtMethod({ cooldownSec: 0 })] });
    const old = await jwks.sign({ sub: 'alice', tenant: 'acme' });
    assert.equal((await auth.authenticate(request(old))).sub, 'alice');
    const fetched = jwks.requests;
    await jwks.rotate();
    const fresh = await jwks.sign({ sub: 'bob', tenant: 'acme' });
    assert.equal((await auth.authenticate(request(fresh))).sub, 'bob');
    assert.ok(jwks.requests > fetched, 'the new kid made the JWKS be fetched again');
    await rejects(auth, old, /no key in the JWKS matches/);
  });

  it('reports an unreachable JWKS as ERR_UNAVAILABLE, not as a bad credential', async () => {
    const auth = createAuthenticator({ methods: [jwtMethod({ jwksUrl: `${jwks.issuer}/missing.json` })] });
    await assert.rejects(auth.authenticate(request(await jwks.sign({ sub: 'a', tenant: 'b' }))), {
      code: 'ERR_UNAVAILABLE',
    });
  });
});
