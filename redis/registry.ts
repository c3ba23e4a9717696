/**
 * The builder registry on Redis, one shard per platform: every key of a platform's registry
 * carries the hash tag `{p:PLATFORM}`, so Redis Cluster spreads platforms over its masters and
 * each script touches one slot. Placement costs O(log N) in the platform's builders: a ZSET of
 * the builders with a free slot ordered by load ratio, and one such ZSET per warm toolchain, kept
 * exact by the register, place, release and remove scripts (their shared Lua is
 * redis/scripts/include/free-set.lua). Used by both farm ports (redis/farm.ts, builder-farm.ts).
 */
import type { RedisConn } from './connect.ts';
import type { BuilderInfo, BuilderView, DrainMark } from '../protocol/farm.ts';
import { PLATFORMS } from '../protocol/job.ts';
import type { Keys, RegistryKeys } from '../protocol/keys.ts';
import type { Scripts } from './scripts.ts';
import { checkReply, SCRIPT_DONE } from './codes.ts';

/** A builder removed from the registry, with the jobs it held (now in the platform's `replace` set). */
export interface RemovedBuilder {
  bid: string;
  platform: string;
  jobs: string[];
}

export interface Registry {
  /** Reserves a slot for `jobId` on the best builder of `platform` (and its creation guard, when `guardDueAt` is given); throws ERR_NO_CAPACITY. */
  place(jobId: string, platform: string, toolchain: string, guardDueAt?: number): Promise<string>;
  /**
   * {@link place} once admit-job-2.lua, run with `admission` (its KEYS and ARGV) in the same step,
   * admitted the job (admit-place-job-12.lua; one server only: the keys are in several slots).
   * Answers admit-job-2.lua's reply when it did not admit (nothing placed); throws as `place` does
   * (the job then stays admitted).
   */
  placeAdmitted(
    jobId: string,
    platform: string,
    toolchain: string,
    guardDueAt: number | undefined,
    admission: { keys: [string, string]; args: (string | number)[] },
  ): Promise<string | [number, number]>;
  /**
   * Gives back the slot `jobId` holds on `bid`, once; false when it held none there. For a builder
   * whose platform is known here the script is sent before this returns.
   */
  release(jobId: string, bid: string): Promise<boolean>;
  /** Registers (`new`) or renews a lease and what the builder advertises; throws ERR_CONFLICT when a renewal came too late. */
  lease(info: BuilderInfo, leaseMs: number, mode: 'new' | 'renew'): Promise<void>;
  /** Ends a builder's lease at once (the sweeper then places its jobs again). */
  endLease(bid: string): Promise<void>;
  /** Removes the builders whose lease ended before `now`, on every platform. */
  expire(now: number): Promise<RemovedBuilder[]>;
  /** Sets an admin's drain of a builder name on every platform; answers the mark in force (an earlier one is kept). */
  drain(name: string, mark: DrainMark): Promise<DrainMark>;
  /** Clears a drain; false when the name was not drained. */
  undrain(name: string): Promise<boolean>;
  /** Every drained name, registered or not. */
  drains(): Promise<Map<string, DrainMark>>;
  /** Jobs of removed builders still waiting to be placed again, per platform. */
  toPlaceAgain(): Promise<{ platform: string; jobId: string }[]>;
  /** Marks a job of a removed builder as handled (placed again or failed). */
  placedAgain(platform: string, jobId: string): Promise<void>;
  /** Up to `count` creation guards due at `at` or before, over every platform. */
  dueCreations(at: number, count: number): Promise<{ platform: string; jobId: string }[]>;
  /** Removes a job's creation guard. */
  creationDone(platform: string, jobId: string): Promise<void>;
  /** Every registered builder, with its load, lease and whether it drains. */
  list(): Promise<BuilderView[]>;
}

/** The eight keys every registry script starts with, in the order their headers list them. */
const core = (r: RegistryKeys): string[] => [
  r.leases,
  r.load,
  r.slots,
  r.warmof,
  r.free,
  r.drained,
  r.selfdrain,
  r.names,
];

/** Builders removed per script call, so one sweep step stays short. @default 100 */
const REMOVE_BATCH = 100;

export function createRegistry(redis: RedisConn, scripts: Scripts, keys: Keys): Registry {
  // A builder's platform never changes, so the id → platform map is cached for the process.
  const platformOf = new Map<string, string>();
  const resolve = async (bid: string): Promise<string | null> => {
    const known = platformOf.get(bid);
    if (known) return known;
    const p = await redis.hget(keys.builderPlatform, bid);
    if (p) platformOf.set(bid, p);
    return p;
  };

  async function removeFrom(platform: string, now: number, bid: string): Promise<RemovedBuilder[]> {
    const r = keys.registry(platform);
    const flat = (await scripts.removeBuilders(
      ...core(r),
      r.builders,
      r.assign,
      r.replace,
      now,
      bid,
      r.warmPrefix,
      r.jobsPrefix,
      REMOVE_BATCH,
    )) as (string | number)[];
    const out: RemovedBuilder[] = [];
    for (let i = 0; i < flat.length;) {
      const n = Number(flat[i + 1]);
      out.push({ bid: String(flat[i]), platform, jobs: flat.slice(i + 2, i + 2 + n).map(String) });
      i += 2 + n;
    }
    if (out.length > 0) await redis.hdel(keys.builderPlatform, ...out.map((b) => b.bid));
    return out;
  }

  return {
    async place(jobId, platform, toolchain, guardDueAt) {
      const r = keys.registry(platform);
      const guard = guardDueAt === undefined ? '' : guardDueAt;
      const args = [r.assign, r.creating, Date.now(), toolchain, jobId, r.warmPrefix, r.jobsPrefix, guard];
      return String(checkReply(await scripts.placeJob(...core(r), ...args), { job: jobId, platform }));
    },

    async placeAdmitted(jobId, platform, toolchain, guardDueAt, admission) {
      const r = keys.registry(platform);
      const guard = guardDueAt === undefined ? '' : guardDueAt;
      const args = [r.assign, r.creating, Date.now(), toolchain, jobId, r.warmPrefix, r.jobsPrefix, guard];
      const reply = await scripts.admitPlaceJob(
        ...core(r),
        ...args.slice(0, 2),
        ...admission.keys,
        ...args.slice(2),
        ...admission.args,
      );
      if (Array.isArray(reply)) return reply as [number, number];
      return String(checkReply(reply, { job: jobId, platform }));
    },

    release(jobId, bid) {
      const releaseOn = async (platform: string | null): Promise<boolean> => {
        if (!platform) return false;
        const r = keys.registry(platform);
        const args = [r.assign, jobId, bid, Date.now(), r.warmPrefix, r.jobsPrefix];
        return (await scripts.releaseSlot(...core(r), ...args)) === SCRIPT_DONE;
      };
      // A known builder's script is sent before this returns: a command the caller sends next
      // on the same connection runs after it (builder-farm.ts `finish`).
      const known = platformOf.get(bid);
      return known ? releaseOn(known) : resolve(bid).then(releaseOn);
    },

    async lease(info, leaseMs, mode) {
      if (mode === 'new') await redis.hset(keys.builderPlatform, info.id, info.platform);
      platformOf.set(info.id, info.platform);
      const r = keys.registry(info.platform);
      const now = Date.now();
      const reply = await scripts.registerBuilder(
        ...core(r),
        r.builders,
        info.id,
        JSON.stringify(info),
        now + leaseMs,
        now,
        mode,
        info.slots,
        info.warm.join(' '),
        info.draining ? '1' : '0',
        r.warmPrefix,
        info.name,
      );
      checkReply(reply, { builder: info.id });
    },

    async endLease(bid) {
      const platform = await resolve(bid);
      if (platform) await redis.zadd(keys.registry(platform).leases, 'XX', 0, bid);
    },

    async expire(now) {
      const out: RemovedBuilder[] = [];
      for (const p of PLATFORMS) {
        for (;;) {
          const batch = await removeFrom(p, now, '');
          out.push(...batch);
          if (batch.length < REMOVE_BATCH) break;
        }
      }
      return out;
    },

    async drain(name, mark) {
      const json = JSON.stringify(mark);
      const replies = await Promise.all(
        PLATFORMS.map((p) => {
          const r = keys.registry(p);
          return scripts.drainBuilder(...core(r), name, json, Date.now(), r.warmPrefix);
        }),
      );
      return JSON.parse(String(replies[0])) as DrainMark;
    },

    async undrain(name) {
      const replies = await Promise.all(
        PLATFORMS.map((p) => {
          const r = keys.registry(p);
          return scripts.drainBuilder(...core(r), name, '', Date.now(), r.warmPrefix);
        }),
      );
      return replies.some((n) => n === SCRIPT_DONE);
    },

    drains: () => readDrains(redis, keys),

    async toPlaceAgain() {
      const per = await Promise.all(
        PLATFORMS.map(async (platform) =>
          (await redis.smembers(keys.registry(platform).replace)).map((jobId) => ({ platform, jobId })),
        ),
      );
      return per.flat();
    },

    async placedAgain(platform, jobId) {
      await redis.srem(keys.registry(platform).replace, jobId);
    },

    async dueCreations(at, count) {
      const per = await Promise.all(
        PLATFORMS.map(async (platform) => {
          const due = await redis.zrangebyscore(
            keys.registry(platform).creating,
            '-inf',
            at,
            'LIMIT',
            0,
            count,
          );
          return due.map((jobId) => ({ platform, jobId }));
        }),
      );
      return per.flat().slice(0, count);
    },

    async creationDone(platform, jobId) {
      await redis.zrem(keys.registry(platform).creating, jobId);
    },

    async list() {
      const drains = await readDrains(redis, keys);
      const per = await Promise.all(PLATFORMS.map((p) => listPlatform(redis, keys.registry(p), drains)));
      return per.flat();
    },
  };
}

/** The drained names of every platform's registry, merged (each holds the same marks). */
async function readDrains(redis: RedisConn, keys: Keys): Promise<Map<string, DrainMark>> {
  const all = await Promise.all(PLATFORMS.map((p) => redis.hgetall(keys.registry(p).drained)));
  const out = new Map<string, DrainMark>();
  for (const h of all)
    for (const [name, raw] of Object.entries(h))
      if (!out.has(name)) out.set(name, JSON.parse(raw) as DrainMark);
  return out;
}

async function listPlatform(
  redis: RedisConn,
  r: RegistryKeys,
  drains: Map<string, DrainMark>,
): Promise<BuilderView[]> {
  const [infos, loads, leases] = await Promise.all([
    redis.hgetall(r.builders),
    redis.hgetall(r.load),
    redis.zrange(r.leases, '0', '-1', 'WITHSCORES'),
  ]);
  const out: BuilderView[] = [];
  for (let i = 0; i + 1 < leases.length; i += 2) {
    const bid = leases[i]!;
    const raw = infos[bid];
    if (!raw) continue;
    const info = JSON.parse(raw) as BuilderInfo;
    const drain = drains.get(info.name ?? bid) ?? null;
    out.push({ info, load: Number(loads[bid] ?? 0), leaseExpiresAt: Number(leases[i + 1]), drain });
  }
  return out;
}
