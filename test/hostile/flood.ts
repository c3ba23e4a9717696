/**
 * A creation flood on a real farm: tenant A (`flood`) fires job creations at a fixed pace without
 * waiting for answers, while tenant B (`steady`) submits jobs at its own pace and follows each to
 * its end. Used by bench/flood.ts (figures) and test/hostile/flood.test.ts (B is served, A is told
 * 429). The policy caps A below the farm's slots, so A can never hold every slot.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { redisKeys } from '../../protocol/keys.ts';
import { startDevFarm, type DevFarm } from '../../wiring/dev-farm.ts';
import { api, codeOf, waitJob, type Client } from '../helpers/http.ts';

export const FLOOD_SLOTS = 6;
/** What the farm grants the flooding tenant: a burst of 10 creations, then 5 a second, 2 in flight. */
export const FLOOD_QUOTA = { createPerSec: 5, jobsInFlight: 2 } as const;

export interface FloodFarm {
  farm: DevFarm;
  a: Client;
  b: Client;
  stop(): Promise<void>;
}

/** One builder with {@link FLOOD_SLOTS} slots; tenant `flood` capped by {@link FLOOD_QUOTA}. */
export async function startFloodFarm(): Promise<FloodFarm> {
  const tokens = {
    a: 'flood-' + randomBytes(12).toString('hex'),
    b: 'steady-' + randomBytes(12).toString('hex'),
  };
  const farm = await startDevFarm({
    builders: 1,
    slots: FLOOD_SLOTS,
    port: 0,
    authMethods: [
      {
        type: 'token',
        tokens: [
          { token: tokens.a, sub: 'a', tenant: 'flood' },
          { token: tokens.b, sub: 'b', tenant: 'steady' },
        ],
      },
    ],
    policy: { tenants: { flood: { max: FLOOD_QUOTA } } },
  });
  return {
    farm,
    a: { url: farm.url, token: tokens.a },
    b: { url: farm.url, token: tokens.b },
    stop: () => farm.stop(),
  };
}

export interface FloodPlan {
  /** Creations tenant A sends, spread evenly over `ms`. */
  aCreations: number;
  ms: number;
  /** Tenant B submits one job every `bEveryMs` for `ms`. */
  bEveryMs: number;
  /** What A's jobs run (long enough to hold their slots). @default sleep 2 */
  aArgv?: string[];
}

export interface FloodResult {
  a: {
    sent: number;
    created: number;
    /** 429 answers, split by what the message says. */
    rateLimited: number;
    inFlightCapped: number;
    retryAfterSec: number[];
    /** 503 (no free slot) and anything else. */
    unavailable: number;
    other: string[];
  };
  b: {
    submitted: number;
    /** POST until 201 (asking again after a 503/429 with its Retry-After), ms. */
    placementMs: number[];
    retries: number;
    /** Final states of B's jobs. */
    states: string[];
  };
  /** Most slots each tenant held at once (sampled from the registry's assignments every 100 ms). */
  maxSlots: Record<string, number>;
  /** CPU this process (the gateway, and the clients) used meanwhile, ms; and the wall time, ms. */
  cpuMs: number;
  wallMs: number;
}

/** Samples which tenant's jobs hold the builders' slots until `stop` is called. */
function sampleSlots(f: FloodFarm, into: Record<string, number>): () => Promise<void> {
  const redis = new Redis(f.farm.redis.url);
  const keys = redisKeys(f.farm.prefix);
  let running = true;
  const loop = (async () => {
    while (running) {
      const jobs = Object.keys(await redis.hgetall(keys.registry('linux-x86_64').assign));
      const tenants = await Promise.all(jobs.map((id) => redis.hget(keys.job(id), 'tenant')));
      const n: Record<string, number> = {};
      for (const t of tenants) if (t) n[t] = (n[t] ?? 0) + 1;
      for (const [t, c] of Object.entries(n)) into[t] = Math.max(into[t] ?? 0, c);
      await new Promise((res) => setTimeout(res, 100));
    }
  })();
  return async () => {
    running = false;
    await loop;
    redis.disconnect();
  };
}

/** Runs the plan: A's flood (if `aCreations` > 0) and B's jobs at once; resolves when B's jobs ended. */
export async function runFlood(f: FloodFarm, plan: FloodPlan): Promise<FloodResult> {
  const r: FloodResult = {
    a: {
      sent: 0,
      created: 0,
      rateLimited: 0,
      inFlightCapped: 0,
      retryAfterSec: [],
      unavailable: 0,
      other: [],
    },
    b: { submitted: 0, placementMs: [], retries: 0, states: [] },
    maxSlots: {},
    cpuMs: 0,
    wallMs: 0,
  };
  const cpu0 = process.cpuUsage();
  const stopSampling = sampleSlots(f, r.maxSlots);
  const aArgv = plan.aArgv ?? ['sleep', '2'];
  const t0 = performance.now();
  const at = (ms: number): Promise<void> =>
    new Promise((res) => setTimeout(res, Math.max(0, t0 + ms - performance.now())));

  const aOne = async (): Promise<void> => {
    r.a.sent++;
    const res = await api(f.a, '/api/v1/jobs', { method: 'POST', json: { argv: aArgv } });
    if (res.status === 201) r.a.created++;
    else if (res.status === 429) {
      const msg = (res.body as { error?: { message?: string } }).error?.message ?? '';
      if (/queued or running/.test(msg)) r.a.inFlightCapped++;
      else r.a.rateLimited++;
      r.a.retryAfterSec.push(Number(res.headers.get('retry-after')));
    } else if (res.status === 503) r.a.unavailable++;
    else r.a.other.push(`${res.status} ${codeOf(res.body) ?? ''}`);
  };
  const bOne = async (): Promise<void> => {
    r.b.submitted++;
    const started = performance.now();
    for (let tries = 0; ; tries++) {
      const res = await api(f.b, '/api/v1/jobs', { method: 'POST', json: { argv: ['true'] } });
      if (res.status === 201) {
        r.b.placementMs.push(performance.now() - started);
        const id = (res.body as { job: { id: string } }).job.id;
        r.b.states.push(String((await waitJob(f.b, id)).state));
        return;
      }
      if ((res.status !== 503 && res.status !== 429) || tries > 60) {
        r.b.states.push(`not placed: ${res.status} ${codeOf(res.body) ?? ''}`);
        return;
      }
      r.b.retries++;
      await new Promise((res2) => setTimeout(res2, Number(res.headers.get('retry-after') || 1) * 1000));
    }
  };

  const pending: Promise<void>[] = [];
  for (let i = 0; i < plan.aCreations; i++) pending.push(at((i * plan.ms) / plan.aCreations).then(aOne));
  const bJobs: Promise<void>[] = [];
  for (let t = 0; t < plan.ms; t += plan.bEveryMs) bJobs.push(at(t).then(bOne));
  await Promise.all([...pending, ...bJobs]);
  await stopSampling();
  const cpu = process.cpuUsage(cpu0);
  r.cpuMs = (cpu.user + cpu.system) / 1000;
  r.wallMs = performance.now() - t0;
  return r;
}
