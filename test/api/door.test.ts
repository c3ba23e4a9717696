/**
 * Validation at the door and the limits policy, against a real farm (redis-server, local store,
 * a bwrap builder): everything a builder would refuse is a 400 from the gateway first; limits
 * above a maximum are refused naming it; omitted limits get the tenant's defaults, which the
 * builder enforces; creations over a tenant's rate or jobs-in-flight cap are 429 + Retry-After.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startDevFarm, type DevFarm } from '../../wiring/dev-farm.ts';
import { farmRedis } from '../helpers/redis-mode.ts';
import { api, codeOf, waitJob, type Client } from '../helpers/http.ts';

const TOKENS = { slow: 'slow-tenant-token-0123456789', tight: 'tight-tenant-token-0123456789' };

describe('the gateway refuses at the door what a builder would refuse', { timeout: 170_000 }, () => {
  let farm: DevFarm;
  let c: Client;
  let slow: Client;
  let tight: Client;
  const post = (who: Client, json: unknown) => api(who, '/api/v1/jobs', { method: 'POST', json });
  const message = (body: unknown): string => (body as { error?: { message?: string } }).error?.message ?? '';

  before(async () => {
    farm = await startDevFarm({
      ...farmRedis,
      builders: 1,
      slots: 2,
      port: 0,
      authMethods: [
        {
          type: 'token',
          tokens: [
            { token: TOKENS.slow, sub: 's', tenant: 'slow' },
            { token: TOKENS.tight, sub: 't', tenant: 'tight' },
          ],
        },
      ],
      policy: {
        max: { memoryMiB: 4096, timeoutSec: 3600 },
        tenants: {
          slow: { max: { createPerSec: 1 } },
          tight: { defaults: { memoryMiB: 64 }, max: { jobsInFlight: 1, pids: 64 } },
        },
      },
    });
    c = { url: farm.url, token: farm.token };
    slow = { url: farm.url, token: TOKENS.slow };
    tight = { url: farm.url, token: TOKENS.tight };
  });
  after(async () => {
    await farm?.stop();
  });

  it('refuses NUL bytes, oversize argv/env, bad base64 and reserved env keys with 400', async () => {
    const bad: [string, unknown][] = [
      ['NUL in argv', { argv: ['echo', 'a\u0000b'] }],
      ['NUL in env', { argv: ['true'], env: { A: 'x\u0000y' } }],
      ['one argument of 128 KiB', { argv: ['echo', 'x'.repeat(128 * 1024)] }],
      ['argv + env over 512 KiB', { argv: ['echo', ...Array(8).fill('y'.repeat(100_000))] }],
      ['invalid base64', { argv: ['true'], inline: [{ path: 'f', data: 'not base64!' }] }],
      ['unpadded base64', { argv: ['true'], inline: [{ path: 'f', data: 'YWJj ZA' }] }],
      ['__proto__ env key', JSON.parse('{"argv":["true"],"env":{"__proto__":"x","A":"1"}}')],
      ['constructor env key', { argv: ['true'], env: { constructor: 'x' } }],
      ['unknown profile', { argv: ['true'], profile: 'nosuch' }],
    ];
    for (const [what, spec] of bad) {
      const r = await post(c, spec);
      assert.equal(r.status, 400, `${what}: ${JSON.stringify(r.body).slice(0, 300)}`);
      assert.equal(codeOf(r.body), 'ERR_VALIDATION', what);
      assert.ok(!message(r.body).includes('/tmp/'), `${what}: no builder path in ${message(r.body)}`);
    }
  });

  it('refuses a limit above the maximum, naming the maximum', async () => {
    const cases: [Record<string, number>, RegExp][] = [
      [{ memoryMiB: 1_048_576 }, /limits\.memoryMiB 1048576 is above the maximum 4096/],
      [{ timeoutSec: 86_400 }, /limits\.timeoutSec 86400 is above the maximum 3600/],
      [{ logBytes: 2 ** 40 }, /limits\.logBytes .* is above the maximum 1073741824/],
    ];
    for (const [limits, why] of cases) {
      const r = await post(c, { argv: ['true'], limits });
      assert.equal(r.status, 400, JSON.stringify(r.body));
      assert.match(message(r.body), why);
    }
    const r = await post(tight, { argv: ['true'], limits: { pids: 65_536 } });
    assert.equal(r.status, 400);
    assert.match(message(r.body), /limits\.pids 65536 is above the maximum 64 \(tenant tight\)/);
  });

  it("grants the tenant's defaults and the builder enforces them", async () => {
    const r = await post(tight, {
      argv: ['/usr/bin/python3', '-c', 'b = bytearray(256 * 1024 * 1024); print(len(b))'],
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const view = (r.body as { job: { id: string; limits: Record<string, number> } }).job;
    assert.equal(view.limits.memoryMiB, 64, 'the tenant default');
    assert.equal(view.limits.pids, 64, 'the default clipped to the tenant maximum');
    const done = await waitJob(tight, view.id);
    assert.notEqual(done.state, 'succeeded', 'a 256 MiB allocation does not fit the granted 64 MiB');
    assert.equal((done.error as { code?: string } | null)?.code, 'ERR_OOM', JSON.stringify(done));
  });

  it('answers 429 with Retry-After over a tenant rate, without touching another tenant', async () => {
    const answers = await Promise.all(Array.from({ length: 6 }, () => post(slow, { argv: ['true'] })));
    const limited = answers.filter((a) => a.status === 429);
    assert.ok(limited.length >= 3, answers.map((a) => a.status).join(','));
    for (const a of limited) {
      assert.equal(codeOf(a.body), 'ERR_RATE_LIMITED');
      assert.ok(Number(a.headers.get('retry-after')) >= 1);
    }
    const other = await post(c, { argv: ['true'] });
    assert.equal(other.status, 201, 'another tenant is not limited by it');
  });

  it('caps jobs in flight per tenant: the next one is 429 until one finishes', async () => {
    const first = await post(tight, { argv: ['sleep', '60'] });
    assert.equal(first.status, 201, JSON.stringify(first.body));
    const id = (first.body as { job: { id: string } }).job.id;
    const second = await post(tight, { argv: ['true'] });
    assert.equal(second.status, 429, JSON.stringify(second.body));
    assert.match(message(second.body), /1 jobs queued or running/);
    await api(tight, `/api/v1/jobs/${id}/cancel`, { method: 'POST' });
    await waitJob(tight, id);
    const third = await post(tight, { argv: ['true'] });
    assert.equal(third.status, 201, 'a finished job no longer counts');
  });
});
