/**
 * A tenant's jobs-in-flight cap counts a job from its admission, including while it waits for a
 * slot (before it has a record): a flood of creations cannot slip past the cap by having each new
 * creation prune the ones still being placed. In-process gateway over a real redis-server; the
 * builder is a registration only, so its one slot stays taken.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { redisKeys } from '../../protocol/keys.ts';
import { codeOf } from '../helpers/http.ts';
import { TOKENS, useApiGateway } from '../helpers/api-gateway.ts';

describe('jobs in flight while they wait for a slot', () => {
  const gw = useApiGateway({
    limits: { placementWaitMs: 4000 },
    policy: { tenants: { dev: { max: { jobsInFlight: 2, createPerSec: 100 } } } },
  });

  it('counts jobs still being placed against the cap', async () => {
    await gw.addBuilder({ slots: 1 });
    const post = () => gw.api('/api/v1/jobs', { method: 'POST', json: { argv: ['sleep', '60'] } });
    // Another tenant takes the only slot, so dev's jobs wait for one.
    const taken = await gw.api('/api/v1/jobs', {
      method: 'POST',
      json: { argv: ['true'] },
      token: TOKENS.other,
    });
    assert.equal(taken.status, 201, JSON.stringify(taken.body));
    const waiting = [post(), post()];
    const inflight = redisKeys(gw.prefix).tenantInFlight('dev');
    while ((await gw.redis().zcard(inflight)) < 2) await new Promise((r) => setTimeout(r, 20));
    const third = await post();
    assert.equal(third.status, 429, JSON.stringify(third.body));
    assert.equal(codeOf(third.body), 'ERR_RATE_LIMITED');
    assert.match(JSON.stringify(third.body), /2 jobs queued or running/);
    for (const w of await Promise.all(waiting)) assert.equal(w.status, 503, 'no slot came free');
    // Once their creations gave up they no longer count: the next one is admitted (and waits).
    assert.equal(await gw.redis().zcard(inflight), 0);
  });
});
