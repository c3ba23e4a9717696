/** Wires a builder agent to Redis, the blob store and the platform's sandbox runner. */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { connectRedis } from '../redis/connect.ts';
import { redisOptions } from './redis-options.ts';
import { createRedisBuilderFarm } from '../redis/builder-farm.ts';
import { sandboxType, type BuilderConfig } from '../builders/core/config.ts';
import { startAgent, type Agent } from '../builders/core/agent.ts';
import type { SandboxRunner } from '../builders/core/sandbox.ts';
import { createBwrapRunner } from '../builders/linux/bwrap-runner.ts';
import { createLoopDisks } from '../builders/linux/loop-disk.ts';
import { PLAIN_DISKS } from '../builders/core/job-disk.ts';
import { startPotSandbox, type PotSandbox } from './pot-sandbox.ts';
import { openStore } from './store.ts';
import { startBuilderMetrics } from './builder-metrics.ts';
import { VERSION } from './version.ts';

export interface RunningBuilder {
  agent: Agent;
  close(): Promise<void>;
}

/** Starts one builder agent; `runner` overrides the platform's sandbox (tests, FreeBSD). */
export async function startBuilder(
  cfg: BuilderConfig,
  log: (m: string) => void,
  runner?: SandboxRunner,
): Promise<RunningBuilder> {
  const conn = redisOptions(cfg.redis);
  const redis = await connectRedis({ ...conn, name: 'kiln-builder' });
  const sub = await connectRedis({ ...conn, name: 'kiln-builder-sub' });
  const pull = await connectRedis({ ...conn, name: 'kiln-builder-pull' });
  const farm = createRedisBuilderFarm({ redis, pull, sub }, cfg.redis.prefix, {
    logTailBytes: cfg.logTailBytes,
    finishedTtlSec: cfg.finishedTtlSec,
  });
  // On FreeBSD the warm pool is ready before the builder registers, so its first job finds a jail.
  let pot: PotSandbox | null = null;
  try {
    if (!runner && sandboxType(cfg) === 'pot') pot = await startPotSandbox(cfg, redis, log);
  } catch (err) {
    for (const c of [sub, pull, redis]) c.disconnect();
    throw err;
  }
  const served = await startBuilderMetrics(cfg.metricsPort, cfg.metricsHost);
  if (served.url) log(`metrics on ${served.url}`);
  const loop = sandboxType(cfg) === 'bwrap' && (cfg.sandbox.diskQuota ?? 'loop') === 'loop';
  const disks = loop ? createLoopDisks({ log }) : PLAIN_DISKS;
  const bwrap =
    runner || pot
      ? null
      : createBwrapRunner({
          cgroupParent: cfg.sandbox.cgroupParent,
          // Per process: a dead builder's leftovers are a registration-like directory that the next
          // start's clean-up removes (builders/core/clean-work-dir.ts), its disks the sweep's.
          ...(cfg.sandbox.readyAhead > 0
            ? {
                ready: {
                  dir: join(cfg.workDir, `ready-${randomBytes(4).toString('hex')}`),
                  count: cfg.sandbox.readyAhead,
                  disks,
                },
              }
            : {}),
          ...(cfg.sandbox.profilesDir ? { profilesDir: cfg.sandbox.profilesDir } : {}),
          ...(cfg.sandbox.uid !== undefined ? { uid: cfg.sandbox.uid } : {}),
          ...(cfg.sandbox.gid !== undefined ? { gid: cfg.sandbox.gid } : {}),
        });
  const agent = await startAgent({
    metrics: served.metrics,
    farm,
    store: openStore(cfg.storage),
    runner: runner ?? pot?.runner ?? bwrap!,
    // A bwrap runner with sandboxes made ready ahead hands out the disks those sandboxes bind.
    ...(bwrap ? { disks: bwrap.disks } : loop ? { disks } : {}),
    name: cfg.name,
    platform: cfg.platform,
    slots: cfg.slots,
    workDir: cfg.workDir,
    leaseMs: cfg.leaseMs,
    drainMs: cfg.drainMs,
    minFreeBytes: cfg.minFreeBytes,
    reserveBytes: cfg.reserveBytes,
    toolchainCacheBytes: cfg.toolchainCacheBytes,
    blobCacheBytes: cfg.blobCacheBytes,
    cacheLowWater: cfg.cacheLowWater,
    version: VERSION,
    log,
  });
  return {
    agent,
    async close() {
      await agent.stop();
      await pot?.pool.stop();
      await served.close();
      sub.disconnect();
      pull.disconnect();
      redis.disconnect();
    },
  };
}
