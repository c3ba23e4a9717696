/**
 * Wires the runtime-neutral gateway app to Redis and a blob store. Used by both adapters
 * (gateway/adapters/node and gateway/adapters/deno) — ioredis and the S3 client run on both.
 */
import { createLimitsPolicy } from '../gateway/limits-policy.ts';
import type { Hono } from 'hono';
import { connectRedis } from '../redis/connect.ts';
import { redisOptions } from './redis-options.ts';
import { createRedisFarm, type RedisFarm } from '../redis/farm.ts';
import { createRedisPresetStore } from '../redis/presets.ts';
import { guardUnavailable } from '../redis/unavailable.ts';
import { createApp } from '../gateway/app.ts';
import type { GatewayConfig } from '../gateway/config.ts';
import type { GatewayEnv } from '../gateway/context.ts';
import { createAuthenticator } from '../gateway/auth/authenticate.ts';
import { startSweeper } from '../gateway/sweeper.ts';
import { createMetrics } from '../gateway/metrics.ts';
import { openStore } from './store.ts';
import { VERSION } from './version.ts';

export interface RunningGateway {
  app: Hono<GatewayEnv>;
  farm: RedisFarm;
  close(): Promise<void>;
}

/** Connects the ports and builds the app (it does not listen: the adapter does). */
export interface WireOptions {
  /**
   * Fault-injection tests: the name of a point (`create:after-place`, `sweep:after-remove`) where
   * the gateway says so on its log and then hangs, so the test can kill it right there.
   */
  faultPoint?: string;
}

/** A hook that hangs forever at the named point, after saying so. */
function hangAt(
  name: string | undefined,
  log: (m: string) => void,
): ((at: string) => Promise<void>) | undefined {
  if (!name) return undefined;
  return (at) => {
    if (at !== name) return Promise.resolve();
    log(`fault point ${at} reached`);
    return new Promise<void>(() => undefined);
  };
}

export async function wireGateway(
  cfg: GatewayConfig,
  log: (m: string) => void,
  opts: WireOptions = {},
): Promise<RunningGateway> {
  const faultPoint = hangAt(opts.faultPoint, log);
  const auth = createAuthenticator(cfg.auth, log);
  // Fail fast: with Redis down a request is a 503 at once (the client retries), never a hang.
  const conn = redisOptions(cfg.redis);
  const redis = await connectRedis({ ...conn, name: 'kiln-gateway', failFast: true });
  const sub = await connectRedis({ ...conn, name: 'kiln-gateway-sub', failFast: true });
  const farm = createRedisFarm(redis, sub, cfg.redis.prefix, cfg.limits.finishedTtlSec);
  const guarded = guardUnavailable(farm);
  const store = openStore(cfg.storage);
  const metrics = createMetrics();
  const app = createApp({
    metrics,
    farm: guarded,
    store,
    authenticate: (r) => auth.authenticate(r),
    limits: cfg.limits,
    cache: cfg.cache,
    policy: createLimitsPolicy(cfg.policy),
    log,
    version: VERSION,
    presets: guardUnavailable(createRedisPresetStore(redis, cfg.redis.prefix)),
    ...(faultPoint ? { faultPoint } : {}),
  });
  const sweeper = startSweeper(farm, {
    periodMs: cfg.limits.sweepMs,
    maxAttempts: cfg.limits.maxAttempts,
    metrics,
    log,
    ...(faultPoint ? { faultPoint } : {}),
  });
  return {
    app,
    farm,
    async close() {
      sweeper.stop();
      farm.close();
      redis.disconnect();
    },
  };
}
