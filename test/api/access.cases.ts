/**
 * API cases about who may do what and what the farm can take: health and status, client JWTs,
 * job tokens and tenants, stopping and deleting a queued job, no capacity. Builders are records
 * registered through the builder port (no agent), so jobs are placed and stay queued. Run
 * in-process (access.test.ts) and on the Deno gateway (deno.test.ts).
 */
import { before, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ApiGateway } from '../helpers/api-gateway.ts';
import { TOKENS } from '../helpers/api-gateway.ts';
import { strayKey } from '../helpers/jwks.ts';
import { codeOf } from '../helpers/http.ts';
import { redisKeys } from '../../protocol/keys.ts';

interface Created {
  job: { id: string; state: string };
  token: string;
}

function tamper(jwt: string): string {
  const [h, p, s] = jwt.split('.') as [string, string, string];
  const payload = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
  payload.sub = 'mallory';
  return `${h}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${s}`;
}

/** Registers the cases (call inside a `describe` that set up `g`). */
export function accessCases(g: ApiGateway): void {
  let bid = '';
  before(async () => {
    bid = await g.addBuilder({ slots: 8 });
  });
  const create = async (): Promise<Created> => {
    const r = await g.api('/api/v1/jobs', { method: 'POST', json: { argv: ['true'] } });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return r.body as Created;
  };

  it('answers health, readiness, status and metrics', async () => {
    assert.equal((await g.api('/healthz', { token: null })).status, 200);
    const ready = await g.api('/readyz', { token: null });
    assert.equal(ready.status, 200, JSON.stringify(ready.body));
    const s = await g.api('/api/v1/status');
    assert.equal(s.status, 200);
    const builders = (s.body as { builders: { id: string; live: boolean }[] }).builders;
    assert.ok(builders.some((b) => b.id === bid && b.live));
    const m = await g.api('/metrics', { token: null });
    assert.match(m.text, /kiln_builders_live [1-9]/);
  });

  it('accepts a JWT from the JWKS server and refuses bad ones with 401', async () => {
    const jwks = g.jwks();
    const good = await jwks.sign({ sub: 'alice', tenant: 'dev' });
    assert.equal((await g.api('/api/v1/status', { token: good })).status, 200);
    const stray = await strayKey();
    const cases: [string, string | null][] = [
      ['alg none', await jwks.sign({ sub: 'a', tenant: 'dev' }, { alg: 'none' })],
      [
        'HS256 with the RSA public key',
        await jwks.sign({ sub: 'a', tenant: 'dev' }, { alg: 'HS256-public' }),
      ],
      ['expired', await jwks.sign({ sub: 'a', tenant: 'dev' }, { expInSec: -3600 })],
      ['no exp', await jwks.sign({ sub: 'a', tenant: 'dev' }, { expInSec: null })],
      ['wrong aud', await jwks.sign({ sub: 'a', tenant: 'dev' }, { aud: 'someone-else' })],
      ['wrong iss', await jwks.sign({ sub: 'a', tenant: 'dev' }, { iss: 'https://evil.example' })],
      ['unknown kid', await jwks.sign({ sub: 'a', tenant: 'dev' }, { kid: 'nope', privateKey: stray })],
      ['tampered', tamper(good)],
      ['no credential', null],
    ];
    for (const [what, token] of cases) {
      const r = await g.api('/api/v1/jobs', { method: 'POST', json: { argv: ['true'] }, token });
      assert.equal(r.status, 401, `${what}: ${r.status}`);
      assert.equal(codeOf(r.body), 'ERR_UNAUTHENTICATED', what);
    }
  });

  it('scopes jobs: a job token works only for its job, another tenant gets 404', async () => {
    const a = await create();
    const b = await create();
    assert.equal(a.job.state, 'queued');
    const own = await g.api(`/api/v1/jobs/${a.job.id}`, { token: a.token });
    assert.equal(own.status, 200);
    assert.equal((own.body as { id: string }).id, a.job.id);
    const cross = await g.api(`/api/v1/jobs/${b.job.id}`, { token: a.token });
    assert.equal(cross.status, 401);
    assert.equal(codeOf(cross.body), 'ERR_TOKEN_INVALID');
    const crossStop = await g.api(`/api/v1/jobs/${b.job.id}/cancel`, { method: 'POST', token: a.token });
    assert.equal(crossStop.status, 401);
    const theirs = await g.api(`/api/v1/jobs/${a.job.id}`, { token: TOKENS.other });
    assert.equal(theirs.status, 404);
    assert.equal(codeOf(theirs.body), 'ERR_JOB_NOT_FOUND');
    const theirDelete = await g.api(`/api/v1/jobs/${a.job.id}`, { method: 'DELETE', token: TOKENS.other });
    assert.equal(theirDelete.status, 404);
    const theirStop = await g.api(`/api/v1/jobs/${a.job.id}/cancel`, { method: 'POST', token: TOKENS.other });
    assert.equal(theirStop.status, 404);
  });

  it('a queued job is stopped at once; only a finished job is deleted', async () => {
    const { job } = await create();
    const early = await g.api(`/api/v1/jobs/${job.id}`, { method: 'DELETE' });
    assert.equal(early.status, 409);
    assert.equal(codeOf(early.body), 'ERR_JOB_NOT_FINISHED');
    const outputs = await g.api(`/api/v1/jobs/${job.id}/outputs`);
    assert.equal(outputs.status, 409);
    assert.equal(codeOf(outputs.body), 'ERR_JOB_NOT_FINISHED');
    const stop = await g.api(`/api/v1/jobs/${job.id}/cancel`, { method: 'POST' });
    assert.equal(stop.status, 202);
    assert.equal((stop.body as { state: string }).state, 'killed');
    const log = await g.api(`/api/v1/jobs/${job.id}/logs?follow=1`);
    assert.equal(log.status, 200);
    const lines = log.text.trim().split('\n');
    assert.deepEqual(JSON.parse(lines.at(-1)!), { end: true, state: 'killed', exitCode: null });
    const noOutputs = await g.api(`/api/v1/jobs/${job.id}/outputs`);
    assert.equal(noOutputs.status, 404);
    assert.equal((await g.api(`/api/v1/jobs/${job.id}`, { method: 'DELETE' })).status, 204);
    assert.equal((await g.api(`/api/v1/jobs/${job.id}`)).status, 404);
    const r = await g.redis().xlen(redisKeys(g.prefix).builderStream(bid));
    assert.ok(r >= 1, 'the stopped job was placed on the builder first');
  });

  it('checks the log query: format and resume point', async () => {
    const { job } = await create();
    for (const q of ['format=xml', 'after=yesterday']) {
      const r = await g.api(`/api/v1/jobs/${job.id}/logs?${q}`);
      assert.equal(r.status, 400, q);
      assert.equal(codeOf(r.body), 'ERR_VALIDATION', q);
    }
    await g.api(`/api/v1/jobs/${job.id}/cancel`, { method: 'POST' });
  });

  it('answers 503 with Retry-After when no builder can take the job', async () => {
    const r = await g.api('/api/v1/jobs', {
      method: 'POST',
      json: { argv: ['true'], platform: 'freebsd-amd64' },
    });
    assert.equal(r.status, 503);
    assert.equal(codeOf(r.body), 'ERR_NO_CAPACITY');
    assert.ok(Number(r.headers.get('retry-after')) > 0);
  });
}
