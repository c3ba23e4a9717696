/**
 * Memory under a hostile tenant: at the same time, one job declares a 2 GiB output, one writes
 * 2 GiB of log, one makes a 5 GiB file in /job (`KILN_MEM_GIB` scales the first two, e.g. 0.25
 * for a short run). The builder's RSS (VmRSS, and VmHWM for its peak) and Redis's `used_memory`
 * and `used_memory_peak` are sampled every 200 ms and printed before / peak / after, next to the
 * bounds they should stay under. A real farm: redis-server, local-dir store, the gateway in this
 * process, one bwrap builder. `KILN_MEM_ONLY=output|log|file` runs one of the three alone. Disk: about 2 × KILN_MEM_GIB GiB in the store plus the 5 GiB file
 * (the job is granted 4 GiB of disk, so the quota refuses it), all removed at the end. Run: `npm run bench:hostile-memory`.
 */
import { readFile } from 'node:fs/promises';
import { Redis } from 'ioredis';
import { startDevFarm } from '../wiring/dev-farm.ts';
import { redisKeys } from '../protocol/keys.ts';
import { api, waitJob, type Client } from '../test/helpers/http.ts';

const GIB = 1024 ** 3;
const MIB = 1024 ** 2;
const SCALE = Number(process.env.KILN_MEM_GIB ?? 2);
const BYTES = Math.round(SCALE * GIB);
/** The builder may grow by this much over its RSS before, whatever the outputs and logs weigh. */
const BUILDER_BOUND = 256 * MIB;
/** Redis per job: the log tail (logTailBytes, 4 MiB by default) and small records. */
const REDIS_BOUND = 16 * MIB;

interface Sample {
  rss: number;
  hwm: number;
  used: number;
  peak: number;
}

async function sample(pid: number, redis: Redis): Promise<Sample> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kib = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(status)?.[1]) * 1024;
  const info = await redis.info('memory');
  const num = (k: string): number => Number(new RegExp(`^${k}:(\\d+)`, 'm').exec(info)?.[1]);
  return { rss: kib('VmRSS'), hwm: kib('VmHWM'), used: num('used_memory'), peak: num('used_memory_peak') };
}

async function main(): Promise<void> {
  const farm = await startDevFarm({
    builders: 1,
    slots: 3,
    port: 0,
    policy: { max: { logBytes: BYTES + 64 * MIB, outputBytes: BYTES + 64 * MIB, timeoutSec: 3600 } },
  });
  const redis = new Redis(farm.redis.url);
  const c: Client = { url: farm.url, token: farm.token };
  const pid = farm.builders[0]!.pid!;
  try {
    const before = await sample(pid, redis);
    let peak = { ...before };
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const s = await sample(pid, redis);
        peak = {
          rss: Math.max(peak.rss, s.rss),
          hwm: s.hwm,
          used: Math.max(peak.used, s.used),
          peak: s.peak,
        };
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    const limits = { timeoutSec: 3600, logBytes: BYTES + MIB, outputBytes: BYTES + MIB };
    const all: [string, unknown][] = [
      [`${SCALE} GiB output`, { argv: ['sh', '-c', `truncate -s ${BYTES} out`], outputs: ['out'], limits }],
      [`${SCALE} GiB log`, { argv: ['sh', '-c', `yes 0123456789abcdef | head -c ${BYTES}`], limits }],
      [
        '5 GiB file in /job',
        // Granted 4 GiB of disk: the per-job quota refuses the file.
        {
          argv: ['sh', '-c', 'fallocate -l 5G /job/big && echo allocated'],
          limits: { ...limits, diskMiB: 4096 },
        },
      ],
    ];
    // KILN_MEM_ONLY=output|log|file runs one of them alone (to see which one costs what).
    const only = process.env.KILN_MEM_ONLY;
    const specs = only ? all.filter(([what]) => what.includes(only === 'file' ? '/job' : only)) : all;
    const t0 = performance.now();
    const results = await Promise.all(
      specs.map(async ([what, spec]) => {
        const r = await api(c, '/api/v1/jobs', { method: 'POST', json: spec });
        if (r.status !== 201)
          return { what, id: '', line: `refused at the door: ${r.status} ${JSON.stringify(r.body)}` };
        const id = (r.body as { job: { id: string } }).job.id;
        const job = await waitJob(c, id);
        const secs = ((performance.now() - t0) / 1000).toFixed(0);
        const err = (job.error as { code?: string } | null)?.code ?? '';
        const out = (job.outputs as { size?: number } | null)?.size;
        const log = what.includes('/job')
          ? await fetch(`${c.url}/api/v1/jobs/${id}/logs?format=raw`, {
              headers: { Authorization: `Bearer ${c.token}` },
            }).then((x) => x.text())
          : '';
        const extra =
          (out ? `, ${(out / GIB).toFixed(2)} GiB stored` : '') +
          (what.includes('/job')
            ? log.includes('allocated')
              ? ', the file was made'
              : `, refused: ${log.trim()}`
            : '');
        return { what, id, line: `${String(job.state)} ${err}${extra} after ${secs} s` };
      }),
    );
    sampling = false;
    await sampler;
    const logJob = results.find((r) => r.what.endsWith('log'))?.id;
    const tail = logJob
      ? Number(await redis.call('MEMORY', 'USAGE', redisKeys(farm.prefix).jobLog(logJob)))
      : 0;
    const after = await sample(pid, redis);
    const m = (n: number): string => (n / MIB).toFixed(0).padStart(9);
    console.log(
      `hostile memory: ${SCALE} GiB output, ${SCALE} GiB log and a 5 GiB file in /job at once; 1 builder (bwrap), local-dir store`,
    );
    for (const r of results) console.log(`  ${r.what.padEnd(22)} ${r.line}`);
    console.log(`  the log job's key in Redis after it ended: ${(tail / MIB).toFixed(1)} MiB`);
    console.log(
      `${'MiB'.padEnd(28)} ${'before'.padStart(9)} ${'peak'.padStart(9)} ${'after'.padStart(9)}   bound`,
    );
    console.log(
      `${'builder VmRSS (peak: VmHWM)'.padEnd(28)} ${m(before.rss)} ${m(after.hwm)} ${m(after.rss)}   peak ≤ before + ${BUILDER_BOUND / MIB}`,
    );
    console.log(
      `${'redis used_memory'.padEnd(28)} ${m(before.used)} ${m(Math.max(peak.used, after.peak))} ${m(after.used)}   peak ≤ before + ${REDIS_BOUND / MIB}`,
    );
    const okB = after.hwm - before.rss <= BUILDER_BOUND;
    const okR = after.peak - before.used <= REDIS_BOUND;
    console.log(`within bounds: builder ${okB ? 'yes' : 'NO'}, redis ${okR ? 'yes' : 'NO'}`);
    for (const r of results) if (r.id) await api(c, `/api/v1/jobs/${r.id}`, { method: 'DELETE' });
  } finally {
    redis.disconnect();
    await farm.stop();
  }
}

await main();
