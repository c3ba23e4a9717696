/**
 * Identity through the whole gateway (real redis-server, local-dir store, a real oidc-provider):
 * the app in-process with `app.request`, and once over HTTP through the Node adapter. Every
 * refusal is JSON `{error:{code,message}}` with its status, and nothing reaches the log.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { gatewayConfigSchema, type GatewayConfig } from '../../gateway/config.ts';
import { serveGatewayNode } from '../../gateway/adapters/node/serve.ts';
import { wireGateway, type RunningGateway } from '../../wiring/gateway.ts';
import { startLocalRedis, type LocalRedis } from '../../wiring/redis-server.ts';
import { AUDIENCE, signingKey, startOidc, type Oidc } from '../helpers/oidc.ts';

let redis: LocalRedis;
let oidc: Oidc;
let dir: string;
let cfg: GatewayConfig;
let gw: RunningGateway;
const logged: string[] = [];

before(async () => {
  [redis, oidc] = await Promise.all([startLocalRedis(), startOidc()]);
  dir = mkdtempSync(join(tmpdir(), 'kiln-identity-'));
  cfg = gatewayConfigSchema.parse({
    listen: { host: '127.0.0.1', port: 0 },
    redis: { url: redis.url, prefix: `identity-${randomBytes(4).toString('hex')}` },
    storage: { type: 'local', dir },
    auth: {
      methods: [
        { type: 'jwt', issuer: oidc.issuer, audience: AUDIENCE, tenantClaim: 'kiln_tenant', cooldownSec: 1 },
      ],
    },
  });
  gw = await wireGateway(cfg, (m) => logged.push(m));
});
after(async () => {
  await gw?.close();
  await oidc?.stop();
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const bearer = (token: string): RequestInit => ({ headers: { authorization: `Bearer ${token}` } });

async function errorOf(res: Response): Promise<{ code: string; message: string }> {
  assert.match(res.headers.get('content-type') ?? '', /application\/json/);
  const body = (await res.json()) as { error: { code: string; message: string } };
  assert.equal(typeof body.error.message, 'string');
  return body.error;
}

describe('identity through the gateway app', () => {
  it('a client_credentials token from the provider reaches the API', async () => {
    const res = await gw.app.request('/api/v1/status', bearer(await oidc.clientCredentials(0)));
    assert.equal(res.status, 200);
    assert.deepEqual(((await res.json()) as { builders: unknown[] }).builders, []);
  });

  it('a non-string typ is 401 JSON, never a 500, and logs nothing', async () => {
    const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');
    const before = logged.length;
    const res = await gw.app.request(
      '/api/v1/status',
      bearer(`${b64({ alg: 'ES256', typ: 1 })}.${b64({ sub: 'x' })}.`),
    );
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('www-authenticate'), 'Bearer');
    assert.equal((await errorOf(res)).code, 'ERR_UNAUTHENTICATED');
    assert.deepEqual(logged.slice(before), []);
  });

  it('a 100 KB token is a JSON 431 with its own code', async () => {
    const res = await gw.app.request('/api/v1/status', bearer('a'.repeat(100 * 1024)));
    assert.equal(res.status, 431);
    assert.equal((await errorOf(res)).code, 'ERR_CREDENTIAL_TOO_LARGE');
  });

  it('after a key rotation a new-key token is 503 with Retry-After until the keys are fetched, never 401', async () => {
    assert.equal(
      (await gw.app.request('/api/v1/status', bearer(await oidc.clientCredentials(0)))).status,
      200,
    );
    await oidc.stop();
    await oidc.start([await signingKey(`rotated-${Date.now()}`), ...oidc.keys]);
    const fresh = await oidc.clientCredentials(0);
    const statuses: number[] = [];
    for (;;) {
      const res = await gw.app.request('/api/v1/status', bearer(fresh));
      statuses.push(res.status);
      if (res.status === 200) break;
      assert.equal(res.status, 503, `answers so far: ${statuses.join(', ')}`);
      assert.equal((await errorOf(res)).code, 'ERR_UNAVAILABLE');
      const retryAfter = Number(res.headers.get('retry-after'));
      assert.equal(retryAfter, 1, 'Retry-After is the 1 s cooldown');
      await new Promise((r) => setTimeout(r, retryAfter * 1000)); // what the client is told to do
    }
    assert.ok(statuses.length <= 2, `accepted after one Retry-After at most: ${statuses.join(', ')}`);
  });
});

describe('identity over HTTP (Node adapter)', () => {
  it('accepts the provider token and answers oversize headers in the JSON error shape', async () => {
    const served = await serveGatewayNode(cfg, (m) => logged.push(m));
    try {
      const ok = await fetch(`${served.url}/api/v1/status`, bearer(await oidc.clientCredentials(0)));
      assert.equal(ok.status, 200);
      const big = await fetch(`${served.url}/api/v1/status`, bearer('a'.repeat(100 * 1024)));
      assert.equal(big.status, 431);
      assert.equal((await errorOf(big)).code, 'ERR_HEADERS_TOO_LARGE');
      const mid = await fetch(`${served.url}/api/v1/status`, bearer('b'.repeat(12 * 1024)));
      assert.equal(mid.status, 431, 'under Node header limit, over maxTokenBytes');
      assert.equal((await errorOf(mid)).code, 'ERR_CREDENTIAL_TOO_LARGE');
    } finally {
      await served.close();
    }
  });
});
