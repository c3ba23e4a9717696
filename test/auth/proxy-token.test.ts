/**
 * The `proxy_token` method against a real HTTP token checker on 127.0.0.1: good tokens become
 * principals from its JSON answer and are cached for `cacheSec` (simulated clock); bad ones pass
 * to the next method; a checker that fails is a 503, never a 401.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { createAuthenticator } from '../../gateway/auth/authenticate.ts';
import type { AuthMethodConfig } from '../../gateway/auth/config.ts';
import { KilnError } from '../../protocol/errors.ts';
import { freePort } from '../helpers/ports.ts';

const GOOD = 'good-token-0123456789';
const ADMIN = 'admin-token-0123456789';
let server: Server;
let url: string;
let calls = 0;
let broken = false;

before(async () => {
  server = createServer((req, res) => {
    calls++;
    if (broken) return void res.writeHead(502).end('bad gateway');
    const auth = req.headers.authorization;
    const answer =
      auth === `Bearer ${GOOD}`
        ? { user: { name: 'alice' }, org: 'acme' }
        : auth === `Bearer ${ADMIN}`
          ? { user: { name: 'root' }, org: 'ops', roles: ['farm-admin'] }
          : null;
    if (answer === null) return void res.writeHead(401).end();
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${port}/check`;
});
after(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const method = (): AuthMethodConfig => ({
  type: 'proxy_token',
  url,
  cacheSec: 60,
  subjectClaim: 'user.name',
  tenantClaim: 'org',
  adminClaim: 'roles',
  adminValue: 'farm-admin',
});
const request = (token: string): Request =>
  new Request('http://gateway.test/api/v1/status', { headers: { authorization: `Bearer ${token}` } });

describe('proxy_token auth method', () => {
  it('accepts what the checker accepts, maps its answer, and caches it for cacheSec', async () => {
    let now = Date.now();
    const auth = createAuthenticator({ methods: [method()] }, undefined, { now: () => now });
    const start = calls;
    assert.deepEqual(await auth.authenticate(request(GOOD)), {
      sub: 'alice',
      tenant: 'acme',
      method: 'proxy_token',
      admin: false,
    });
    assert.deepEqual(await auth.authenticate(request(GOOD)), {
      sub: 'alice',
      tenant: 'acme',
      method: 'proxy_token',
      admin: false,
    });
    assert.equal(calls, start + 1, 'the second answer came from the cache');
    assert.equal((await auth.authenticate(request(ADMIN))).admin, true);
    now += 61_000;
    await auth.authenticate(request(GOOD));
    assert.equal(calls, start + 3, 'asked again once cacheSec had passed');
  });

  it('a token the checker refuses goes to the next method, and is 401 when none takes it', async () => {
    const auth = createAuthenticator({
      methods: [
        method(),
        { type: 'token', tokens: [{ token: 'static-token-0123456789', sub: 'ci', tenant: 'acme' }] },
      ],
    });
    assert.equal((await auth.authenticate(request('static-token-0123456789'))).method, 'token');
    await assert.rejects(auth.authenticate(request('nobody-knows-this-token')), (err: unknown) => {
      assert.ok(err instanceof KilnError);
      assert.equal(err.code, 'ERR_UNAUTHENTICATED');
      assert.match(err.message, /proxy_token, token/);
      return true;
    });
  });

  it('a failing checker is 503 with Retry-After, not a bad credential', async () => {
    const auth = createAuthenticator({ methods: [method()] });
    broken = true;
    try {
      await assert.rejects(auth.authenticate(request(GOOD)), (err: unknown) => {
        assert.ok(err instanceof KilnError);
        assert.equal(err.code, 'ERR_UNAVAILABLE');
        assert.equal(err.retryAfter, 1);
        assert.match(err.message, /HTTP 502/);
        return true;
      });
    } finally {
      broken = false;
    }
  });
});
