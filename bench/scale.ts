/**
 * Placement at scale: placements/s and latency with 1 … 5,000 registered builders (registered
 * through the builder port, 8 slots and 10 warm toolchains each; no job runs), on one
 * redis-server and on a 3-master Redis Cluster on loopback; the load balance after 100,000
 * placements with random releases over 1,000 builders; and job creations/s through one gateway.
 *
 *   npm run bench:scale -- [--seconds S] [--counts 1,10,100,1000,5000] [--no-cluster] [--no-gateway]
 */
import { randomBytes } from 'node:crypto';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import type { BuilderInfo } from '../protocol/farm.ts';
import { PLATFORMS } from '../protocol/job.ts';
import type { FarmState } from '../protocol/gateway-port.ts';
import { createRedisFarm } from '../redis/farm.ts';
import { createRedisBuilderFarm } from '../redis/builder-farm.ts';
import { startLocalRedis } from '../wiring/redis-server.ts';
import { startLocalCluster, type LocalCluster } from '../test/helpers/redis-cluster.ts';
import { summarise } from './stats.ts';
import { benchJobCreation } from './scale-gateway.ts';

const arg = (name: string, dflt: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : dflt;
};
const SECONDS = Number(arg('seconds', '3'));
const COUNTS = arg('counts', '1,10,100,1000,5000').split(',').map(Number);
const IN_FLIGHT = 16;
const SLOTS = 8;
const WARM = 10;
const LEASE_MS = 600_000;
const PLATFORM = 'linux-x86_64';
const ALL = [...PLATFORMS];

type Conn = Redis;

const toolchains = Array.from({ length: 40 }, (_, i) => `sha256:${String(i).padStart(64, '0')}`);

function builderInfo(i: number, platform: string): BuilderInfo {
  const id = `bench-${i}-${randomBytes(3).toString('hex')}`;
  return {
    id,
    name: id,
    platform,
    slots: SLOTS,
    version: 'bench',
    hostname: `host-${i}`,
    draining: false,
    warm: Array.from({ length: WARM }, (_, k) => toolchains[(i + k) % toolchains.length]!),
    startedAt: new Date().toISOString(),
  };
}

/** Registers `n` builders through the builder port. */
async function register(
  conn: Conn,
  prefix: string,
  n: number,
  platforms = [PLATFORM],
): Promise<BuilderInfo[]> {
  const port = createRedisBuilderFarm({ redis: conn, pull: conn, sub: conn }, prefix);
  const infos = platforms.flatMap((p, k) => Array.from({ length: n }, (_, i) => builderInfo(k * n + i, p)));
  for (let i = 0; i < infos.length; i += 100) {
    await Promise.all(infos.slice(i, i + 100).map((b) => port.register(b, randomBytes(32), LEASE_MS)));
  }
  return infos;
}

/**
 * `IN_FLIGHT` loops place a job (a random toolchain, so about a quarter of placements find it
 * warm somewhere) and release a random earlier one once half the farm's slots are in use.
 */
async function placeFor(
  farm: FarmState,
  n: number,
  ms: number,
  platforms = [PLATFORM],
): Promise<ReturnType<typeof summarise>> {
  const held: { job: string; bid: string }[] = [];
  const lat: number[] = [];
  const target = Math.max(1, Math.floor((n * platforms.length * SLOTS) / 2));
  let seq = 0;
  const t0 = performance.now();
  const end = t0 + ms;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (performance.now() < end) {
        if (held.length >= target) {
          const k = Math.floor(Math.random() * held.length);
          const [h] = held.splice(k, 1);
          await farm.releaseSlot(h!.job, h!.bid);
        }
        const job = `j${seq++}`;
        const tc = toolchains[Math.floor(Math.random() * toolchains.length)]!;
        const platform = platforms[seq % platforms.length]!;
        const s = performance.now();
        const bid = await farm.placeJob(job, platform, tc).catch(() => null);
        lat.push(performance.now() - s);
        if (bid) held.push({ job, bid });
      }
    }),
  );
  const out = summarise(lat, performance.now() - t0);
  await Promise.all(held.map((h) => farm.releaseSlot(h.job, h.bid)));
  return out;
}

/** Starts recording every command's own execution time on `server` (SLOWLOG at 0 µs). */
async function recordEach(server: Redis): Promise<void> {
  await server.config('SET', 'slowlog-log-slower-than', '0');
  await server.config('SET', 'slowlog-max-len', '200000');
  await server.slowlog('RESET');
}

/** p50/p99 (µs) of the scripts' own execution times since {@link recordEach}, then recording stops. */
async function scriptTimes(server: Redis): Promise<{ p50: number; p99: number }> {
  const entries = (await server.slowlog('GET', -1)) as [number, number, number, string[]][];
  await server.config('SET', 'slowlog-log-slower-than', '10000');
  await server.slowlog('RESET');
  const us = entries
    .filter((e) => /^evalsha$/i.test(String(e[3]?.[0])))
    .map((e) => Number(e[2]))
    .sort((a, b) => a - b);
  const at = (q: number): number => us[Math.min(us.length - 1, Math.floor(q * us.length))] ?? NaN;
  return { p50: at(0.5), p99: at(0.99) };
}

/** Server-side time of every script call so far (INFO commandstats): independent of client load. */
async function scriptMicros(server: Redis): Promise<{ calls: number; usec: number }> {
  const m = /cmdstat_evalsha:calls=(\d+),usec=(\d+)/.exec(await server.info('commandstats'));
  return { calls: Number(m?.[1] ?? 0), usec: Number(m?.[2] ?? 0) };
}

async function placementRows(
  label: string,
  conn: Conn,
  newSub: () => Conn,
  platforms = [PLATFORM],
  server: Redis | null = null,
): Promise<void> {
  console.log(
    `\n${label}: ${IN_FLIGHT} placements in flight, ${SLOTS} slots and ${WARM} warm toolchains per builder, ` +
      `${platforms.length > 1 ? 'N builders on each of' : 'platform'} ${platforms.join(', ')}`,
  );
  for (const n of COUNTS) {
    const prefix = `bench-${randomBytes(4).toString('hex')}`;
    await register(conn, prefix, n, platforms);
    const farm = createRedisFarm(conn, newSub(), prefix); // close() ends its subscriber
    const before = server ? await scriptMicros(server) : null;
    const lag = monitorEventLoopDelay({ resolution: 1 });
    lag.enable();
    const s = await placeFor(farm, n, SECONDS * 1000, platforms);
    lag.disable();
    const after = server ? await scriptMicros(server) : null;
    const cost =
      before && after
        ? ` (redis-server: ${((after.usec - before.usec) / (after.calls - before.calls)).toFixed(1)} µs of CPU per place or release script)`
        : '';
    console.log(
      `builders ${n}: ${Math.round(s.perSec)} placements/s p50 ${s.p50.toFixed(2)} ms p99 ${s.p99.toFixed(2)} ms${cost}`,
    );
    // Where p99 comes from: the scripts' own time in Redis, against this client's event-loop delay
    // (GC, CPU shared with redis-server and the machine's other load); the rest is queueing.
    // (Recorded over one more second apart: recording each command costs Redis time itself.)
    let own: { p50: number; p99: number } | null = null;
    if (server) {
      await recordEach(server);
      await placeFor(farm, n, 1000, platforms);
      own = await scriptTimes(server);
    }
    console.log(
      `  p99 parts: ${own ? `script's own time p50 ${own.p50} µs p99 ${own.p99} µs; ` : ''}` +
        `client event-loop delay p99 ${(lag.percentile(99) / 1e6).toFixed(2)} ms, max ${(lag.max / 1e6).toFixed(2)} ms`,
    );
    farm.close();
  }
}

/** 100,000 placements with random releases over 1,000 builders; the most loaded vs the mean. */
async function balance(conn: Conn, sub: Conn): Promise<void> {
  const prefix = `bench-${randomBytes(4).toString('hex')}`;
  const infos = await register(conn, prefix, 1000);
  const farm = createRedisFarm(conn, sub, prefix);
  const held: { job: string; bid: string }[] = [];
  const target = Math.floor(1000 * SLOTS * 0.75);
  for (let i = 0; i < 100_000; i += IN_FLIGHT) {
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async (_, k) => {
        if (held.length >= target) {
          const [h] = held.splice(Math.floor(Math.random() * held.length), 1);
          await farm.releaseSlot(h!.job, h!.bid);
        }
        const job = `b${i + k}`;
        const bid = await farm.placeJob(job, PLATFORM, '').catch(() => null);
        if (bid) held.push({ job, bid });
      }),
    );
  }
  const per = new Map(infos.map((b) => [b.id, 0]));
  for (const h of held) per.set(h.bid, (per.get(h.bid) ?? 0) + 1);
  const loads = [...per.values()];
  const mean = loads.reduce((a, b) => a + b, 0) / loads.length;
  const max = Math.max(...loads);
  console.log(
    `\nbalance: 100000 placements, random releases, 1000 builders × ${SLOTS} slots at ${Math.round((held.length / (1000 * SLOTS)) * 100)}% use: ` +
      `most loaded ${max}/${SLOTS}, mean ${mean.toFixed(2)}/${SLOTS}: ${(max / mean).toFixed(2)}× the mean`,
  );
  farm.close();
}

async function main(): Promise<void> {
  console.log(
    `kiln bench/scale: ${SECONDS} s per row, this machine (${(await import('node:os')).cpus().length} cores)`,
  );
  const redis = await startLocalRedis();
  const conn = new Redis(redis.url);
  const sub = new Redis(redis.url);
  let cluster: LocalCluster | null = null;
  try {
    await placementRows('one redis-server', conn, () => new Redis(redis.url), [PLATFORM], conn);
    await balance(conn, sub);
    if (!process.argv.includes('--no-cluster')) {
      cluster = await startLocalCluster(3);
      const c = cluster.client as unknown as Conn;
      await placementRows('one redis-server, every platform', conn, () => new Redis(redis.url), ALL, conn);
      await placementRows(
        'Redis Cluster, 3 masters, every platform',
        c,
        () => cluster!.newSub() as unknown as Conn,
        ALL,
      );
      for (const p of ALL) {
        const slot = Number(await cluster.client.cluster('KEYSLOT', `{p:${p}}`));
        console.log(`  {p:${p}} is hash slot ${slot}`);
      }
    }
    if (!process.argv.includes('--no-gateway')) await benchJobCreation(redis.url, SECONDS);
  } finally {
    conn.disconnect();
    sub.disconnect();
    await cluster?.stop();
    await redis.stop();
  }
}

await main();
