/**
 * Soak: N jobs (10,000 by default; `KILN_SOAK_JOBS`) through a local farm (redis-server, the
 * gateway in this process, bwrap builders as processes), `SOAK_CONCURRENCY` in flight. Each job
 * prints its own marker; a job counts as done once when its result holds exactly its marker,
 * failed when it ended with a coded error other than ERR_INTERNAL, lost otherwise (it never
 * ended, or ended wrong), duplicated when its marker shows twice (a job placed again is counted
 * apart). Prints p50/p99 of the end-to-end time and the memory of every process before
 * and after. Run: `npm run bench:soak`.
 */
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { startDevFarm } from '../wiring/dev-farm.ts';
import { summarise, HEADER, row } from './stats.ts';

const JOBS = Number(process.env.KILN_SOAK_JOBS ?? 10_000);
/** Creations refused with 503/429 (full farm) and asked again: not lost, never made. */
let refused = 0;
const CONCURRENCY = Number(process.env.SOAK_CONCURRENCY ?? 24);

function rssKiB(pid: number | undefined): number {
  if (!pid) return 0;
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0);
}

async function memory(
  farm: Awaited<ReturnType<typeof startDevFarm>>,
  redis: Redis,
): Promise<Record<string, number>> {
  const info = await redis.info('memory');
  const used = Number(/used_memory:(\d+)/.exec(info)?.[1] ?? 0);
  const out: Record<string, number> = {
    'gateway+bench process RSS MiB': process.memoryUsage().rss / 2 ** 20,
    'redis used_memory MiB': used / 2 ** 20,
  };
  farm.builders.forEach((b, i) => (out[`builder ${i} RSS MiB`] = rssKiB(b.pid) / 1024));
  return out;
}

async function main(): Promise<void> {
  const farm = await startDevFarm({ builders: 2, slots: 6, port: 0, leaseMs: 10_000 });
  const redis = new Redis(farm.redis.url);
  try {
    const auth = { Authorization: `Bearer ${farm.token}`, 'Content-Type': 'application/json' };
    const run = async (
      i: number,
    ): Promise<{ ms: number; ok: boolean; clear: boolean; dup: boolean; rerun: boolean }> => {
      const marker = `soak-${i}-${Math.random().toString(36).slice(2)}`;
      const t0 = performance.now();
      // A full farm answers 503 + Retry-After: the job was never made, so ask again (same key).
      let res: Response;
      for (;;) {
        res = await fetch(`${farm.url}/api/v1/jobs?wait=60`, {
          method: 'POST',
          headers: { ...auth, 'Idempotency-Key': marker },
          body: JSON.stringify({ argv: ['echo', marker], inlineResult: true }),
        });
        if (res.status !== 503 && res.status !== 429) break;
        refused++;
        await res.arrayBuffer();
        await new Promise((r) => setTimeout(r, Number(res.headers.get('retry-after') ?? 1) * 1000));
      }
      let body = (await res.json()) as {
        job: {
          id: string;
          state: string;
          attempt: number;
          result: { stdout: string } | null;
          error: { code: string } | null;
        };
      };
      while (body.job.state === 'queued' || body.job.state === 'running') {
        const r = await fetch(`${farm.url}/api/v1/jobs/${body.job.id}?wait=60`, { headers: auth });
        body = { job: (await r.json()) as typeof body.job };
      }
      const out = body.job.result ? Buffer.from(body.job.result.stdout, 'base64').toString() : '';
      const seen = out.split(marker).length - 1;
      return {
        ms: performance.now() - t0,
        ok: body.job.state === 'succeeded' && out === `${marker}\n`,
        clear: !!body.job.error && body.job.error.code !== 'ERR_INTERNAL',
        dup: seen > 1,
        rerun: body.job.attempt > 1,
      };
    };
    await run(-1); // warm up
    const before = await memory(farm, redis);
    const latencies: number[] = [];
    let done = 0;
    let lost = 0;
    let failed = 0;
    let dup = 0;
    let reruns = 0;
    let next = 0;
    const t0 = performance.now();
    const worker = async (): Promise<void> => {
      for (let i = next++; i < JOBS; i = next++) {
        const r = await run(i).catch(() => null);
        if (r && !r.ok && r.clear) failed++;
        else if (!r || !r.ok) lost++;
        else {
          done++;
          latencies.push(r.ms);
        }
        if (r?.dup) dup++;
        if (r?.rerun) reruns++;
        if ((done + failed + lost) % 1000 === 0)
          process.stderr.write(`soak: ${done + failed + lost}/${JOBS}\n`);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    const wall = performance.now() - t0;
    const after = await memory(farm, redis);
    console.log(
      `soak: ${JOBS} jobs, ${CONCURRENCY} in flight, 2 builders × 6 slots (bwrap), wall ${(wall / 1000).toFixed(0)} s`,
    );
    console.log(
      `  completed once with the right output: ${done}   failed with a clear error: ${failed}   lost: ${lost}   duplicated: ${dup}   placed again: ${reruns}   creations refused and retried: ${refused}`,
    );
    console.log(HEADER);
    console.log(row('job end to end (POST ?wait, inline result)', summarise(latencies, wall)));
    console.log(`${'memory'.padEnd(34)} ${'before'.padStart(9)} ${'after'.padStart(9)}`);
    for (const k of Object.keys(before))
      console.log(
        `${k.padEnd(34)} ${before[k]!.toFixed(1).padStart(9)} ${(after[k] ?? 0).toFixed(1).padStart(9)}`,
      );
  } finally {
    redis.disconnect();
    await farm.stop();
  }
}

await main();
