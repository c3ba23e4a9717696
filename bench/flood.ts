/**
 * Creation flood: tenant A fires 500 job creations in 10 s (`KILN_FLOOD_A`, `KILN_FLOOD_SEC`)
 * while tenant B submits a job every 500 ms; B's placement latency (POST until 201, asking again
 * after a 503/429) is printed next to the same B load on a quiet farm, with A's answers (created,
 * 429 by reason, Retry-After, 503). A real farm: redis-server, the gateway in this process, one
 * bwrap builder with 4 slots; A is capped by the limits policy at 5 creations/s (burst 10) and 2
 * jobs in flight. Run: `npm run bench:flood`.
 */
import {
  FLOOD_QUOTA,
  FLOOD_SLOTS,
  runFlood,
  startFloodFarm,
  type FloodResult,
} from '../test/hostile/flood.ts';
import { percentile } from './stats.ts';

const A = Number(process.env.KILN_FLOOD_A ?? 500);
const MS = Number(process.env.KILN_FLOOD_SEC ?? 10) * 1000;
const B_EVERY_MS = 500;

function bRow(label: string, r: FloodResult): string {
  const s = [...r.b.placementMs].sort((x, y) => x - y);
  const f = (n: number): string => n.toFixed(0).padStart(7);
  const done = r.b.states.filter((x) => x === 'succeeded').length;
  return (
    `${label.padEnd(40)} ${String(s.length).padStart(3)}/${String(r.b.submitted).padEnd(3)} ` +
    `${f(percentile(s, 50))} ${f(percentile(s, 99))} ${f(s.at(-1) ?? NaN)} ${String(r.b.retries).padStart(8)} ${String(done).padStart(10)}`
  );
}

async function main(): Promise<void> {
  const f = await startFloodFarm();
  try {
    await runFlood(f, { aCreations: 0, ms: 1000, bEveryMs: 500 }); // warm up
    const quiet = await runFlood(f, { aCreations: 0, ms: MS, bEveryMs: B_EVERY_MS });
    const flood = await runFlood(f, { aCreations: A, ms: MS, bEveryMs: B_EVERY_MS });
    const a = flood.a;
    const ra = a.retryAfterSec.length
      ? `${Math.min(...a.retryAfterSec)}–${Math.max(...a.retryAfterSec)} s`
      : '-';
    console.log(
      `flood: tenant A sends ${A} creations in ${MS / 1000} s; tenant B one job every ${B_EVERY_MS} ms; ` +
        `1 builder × ${FLOOD_SLOTS} slots (bwrap); A's quota ${FLOOD_QUOTA.createPerSec}/s (burst ${2 * FLOOD_QUOTA.createPerSec}), ${FLOOD_QUOTA.jobsInFlight} in flight`,
    );
    console.log(
      `${'tenant B placement, POST → 201 (ms)'.padEnd(40)} ${'placed'.padStart(7)} ${'p50'.padStart(7)} ${'p99'.padStart(7)} ${'max'.padStart(7)} ${'retries'.padStart(8)} ${'succeeded'.padStart(10)}`,
    );
    console.log(bRow('B alone', quiet));
    console.log(bRow(`B while A floods (${A} in ${MS / 1000} s)`, flood));
    console.log(
      `tenant A: sent ${a.sent}, created ${a.created}, 429 over the rate ${a.rateLimited}, ` +
        `429 at the in-flight cap ${a.inFlightCapped} (Retry-After ${ra}), 503 ${a.unavailable}, other ${a.other.length}`,
    );
    console.log(
      `slots held at most at once (sampled every 100 ms): A ${flood.maxSlots.flood ?? 0}, ` +
        `B ${flood.maxSlots.steady ?? 0} (B alone: ${quiet.maxSlots.steady ?? 0})`,
    );
    const perRefusal =
      (flood.cpuMs - (quiet.cpuMs * flood.wallMs) / quiet.wallMs) / Math.max(1, a.sent - a.created);
    console.log(
      `CPU of this process (the gateway and both tenants' clients): ${(quiet.cpuMs / 1000).toFixed(1)} s over ${(quiet.wallMs / 1000).toFixed(0)} s with B alone, ` +
        `${(flood.cpuMs / 1000).toFixed(1)} s over ${(flood.wallMs / 1000).toFixed(0)} s with the flood: ` +
        `~${perRefusal.toFixed(2)} ms per refused creation (request and answer, both sides)`,
    );
    console.log(
      `bound: A holds at most its ${FLOOD_QUOTA.jobsInFlight} jobs in flight (plus, for a moment, one whose slot the ` +
        `builder is still giving back) of the ${FLOOD_SLOTS} slots, so B never waits for capacity A holds while B keeps ` +
        `within the rest; what the flood costs B is the gateway's CPU for A's 429s (above). B's placement is bounded ` +
        `by placementWaitMs (5000 ms) plus that queueing; every B job is placed and completes.`,
    );
  } finally {
    await f.stop();
  }
}

await main();
