/**
 * Hostile tenant flooding job creation (the test form of bench/flood.ts): tenant A fires 200
 * creations in 4 s, tenant B submits a job every 500 ms meanwhile. A is admitted no more than its
 * quota allows and told 429 with Retry-After for the rest; every one of B's jobs is placed and
 * completes. No timing is asserted (bench/flood.ts prints B's placement latency).
 */
import { after, before, describe } from 'node:test';
import { FLOOD_QUOTA, runFlood, startFloodFarm, type FloodFarm } from './flood.ts';
import { hostileSuite, tried } from './tally.ts';

const suite = hostileSuite('flood');

describe('hostile tenant: a creation flood', { timeout: 180_000 }, () => {
  let f: FloodFarm;
  before(async () => {
    f = await startFloodFarm();
  });
  after(async () => {
    await f?.stop();
  });

  suite.attack('creation-flood', async () => {
    const ms = 4000;
    const r = await runFlood(f, { aCreations: 200, ms, bEveryMs: 500 });
    const refusedA = r.a.rateLimited + r.a.inFlightCapped;
    // The bucket holds twice the rate; it refills at the rate while the flood lasts (and its answers trickle in).
    const allowed =
      2 * FLOOD_QUOTA.createPerSec + Math.ceil((FLOOD_QUOTA.createPerSec * (r.wallMs + 1000)) / 1000);
    const placed = r.b.placementMs.length;
    const succeeded = r.b.states.filter((s) => s === 'succeeded').length;
    return [
      tried(
        `A's creations admitted beyond ${FLOOD_QUOTA.createPerSec}/s (burst ${2 * FLOOD_QUOTA.createPerSec}) or ${FLOOD_QUOTA.jobsInFlight} in flight`,
        r.a.created <= allowed,
        `${r.a.created} of ${r.a.sent} created (at most ${allowed} allowed)`,
      ),
      tried(
        "A's refusals are 429 with Retry-After",
        refusedA > 0 && r.a.other.length === 0 && r.a.retryAfterSec.every((s) => s >= 1),
        `429 rate ${r.a.rateLimited}, in flight ${r.a.inFlightCapped}, 503 ${r.a.unavailable}, other ${r.a.other.join(',') || 0}`,
      ),
      tried(
        "B's jobs starved",
        placed === r.b.submitted && succeeded === r.b.submitted,
        `${placed}/${r.b.submitted} placed, ${succeeded} succeeded, ${r.b.retries} asked again`,
      ),
    ];
  });
});

suite.finish();
