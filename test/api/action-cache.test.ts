/**
 * The action cache through a real farm: builders write successful cacheable results, the gateway
 * answers repeats with no builder involved, scopes keep tenants apart unless an admin shares one,
 * and no client API can write the cache.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startDevFarm, type DevFarm } from '../../wiring/dev-farm.ts';
import { farmRedis } from '../helpers/redis-mode.ts';
import { api, codeOf, type Client } from '../helpers/http.ts';

const CI = 'ci-token-' + randomBytes(8).toString('hex');
const DEV2 = 'dev2-token-' + randomBytes(8).toString('hex');
const EVE = 'eve-token-' + randomBytes(8).toString('hex');

interface Created {
  job: {
    id: string;
    state: string;
    exitCode: number | null;
    result?: { stdout: string; files: { path: string; data: string }[] };
  };
}

function compileSpec(src: string): Record<string, unknown> {
  return {
    argv: ['sh', '-c', 'gcc -c a.c -o a.o && echo compiled'],
    inline: [{ path: 'a.c', data: Buffer.from(src).toString('base64') }],
    outputs: ['a.o'],
    cache: true,
    inlineResult: true,
  };
}

describe('action cache', { timeout: 120_000 }, () => {
  let farm: DevFarm;
  let dev: Client;
  const as = (token: string): Client => ({ url: farm.url, token });
  const post = async (
    c: Client,
    spec: Record<string, unknown>,
  ): Promise<{ status: number; body: Created }> => {
    const r = await api(c, '/api/v1/jobs?wait=30', { method: 'POST', json: spec });
    return { status: r.status, body: r.body as Created };
  };

  before(async () => {
    farm = await startDevFarm({
      ...farmRedis,
      port: 0,
      authMethods: [
        {
          type: 'token',
          tokens: [
            { token: CI, sub: 'ci-bot', tenant: 'ci' },
            { token: DEV2, sub: 'bob', tenant: 'team' },
            { token: EVE, sub: 'eve', tenant: 'eve' },
          ],
        },
      ],
      cache: { shared: [{ scope: 'main', writers: ['ci'], readers: ['team'] }] },
    });
    dev = { url: farm.url, token: farm.token };
  });
  after(async () => {
    await farm?.stop();
  });

  it('answers a repeat from the cache in one round trip, with the same object', async () => {
    const spec = compileSpec(`int f(void) { return ${Date.now() % 1000}; }\n`);
    const first = await post(dev, spec);
    assert.equal(first.status, 201);
    assert.equal(first.body.job.state, 'succeeded');
    const obj = first.body.job.result?.files.find((f) => f.path === 'a.o');
    assert.ok(
      obj &&
        Buffer.from(obj.data, 'base64')
          .subarray(0, 4)
          .equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46])),
      'an ELF object inline',
    );
    const second = await post(dev, spec);
    assert.equal(second.status, 200);
    assert.equal(second.body.job.state, 'cached');
    assert.equal(Buffer.from(second.body.job.result!.stdout, 'base64').toString(), 'compiled\n');
    assert.equal(second.body.job.result!.files[0]!.data, obj.data);
    assert.equal((await api(dev, `/api/v1/jobs/${second.body.job.id}`)).status, 404, 'a hit creates no job');
  });

  it('never caches a failure, and a changed input is a miss', async () => {
    const bad = compileSpec('int f(void) { return }\n');
    assert.equal((await post(dev, bad)).body.job.state, 'failed');
    assert.equal((await post(dev, bad)).body.job.state, 'failed', 'the failure ran again');
    const a = compileSpec('int g(void) { return 1; }\n');
    assert.equal((await post(dev, a)).status, 201);
    assert.equal((await post(dev, compileSpec('int g(void) { return 2; }\n'))).status, 201);
  });

  it('keeps tenants apart, and lets a shared scope written by CI be read by its readers only', async () => {
    const mine = compileSpec('int mine(void) { return 7; }\n');
    assert.equal((await post(dev, mine)).status, 201);
    assert.equal((await post(as(EVE), mine)).status, 201, 'another tenant does not see dev’s result');

    const shared = compileSpec('int shared(void) { return 8; }\n');
    assert.equal((await post(as(CI), shared)).status, 201, 'CI builds it');
    const team = await post(as(DEV2), shared);
    assert.equal(team.status, 200, 'a reader of the shared scope gets the hit');
    assert.equal(team.body.job.state, 'cached');
    assert.equal((await post(as(EVE), shared)).status, 201, 'a tenant outside the scope does not');
    const teamOnly = compileSpec('int teamonly(void) { return 9; }\n');
    assert.equal((await post(as(DEV2), teamOnly)).status, 201);
    assert.equal((await post(as(CI), teamOnly)).status, 201, 'a reader does not write the shared scope');
  });

  it('no client API writes the cache', async () => {
    const spec = compileSpec('int forged(void) { return 3; }\n');
    const forgedFields = [
      { ...spec, result: { stdout: 'x' } },
      { ...spec, state: 'cached' },
      { ...spec, action: 'a'.repeat(64) },
    ];
    for (const body of forgedFields) {
      const r = await api(dev, '/api/v1/jobs', { method: 'POST', json: body });
      assert.equal(r.status, 400);
      assert.equal(codeOf(r.body), 'ERR_VALIDATION');
    }
    for (const path of [
      '/api/v1/blobs/..%2F..%2Fac%2Fx',
      '/api/v1/blobs/ac',
      '/api/v1/ac/x',
      '/api/v1/cache/x',
    ]) {
      const r = await api(dev, path, { method: 'PUT', body: 'x' });
      assert.ok(r.status === 400 || r.status === 404, `${path}: ${r.status}`);
    }
    // After all that, the action is still a miss: it runs on a builder.
    assert.equal((await post(dev, spec)).status, 201);
  });
});
