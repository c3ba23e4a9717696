/**
 * The builder agent: a random HS256 key at start, a lease renewed by heartbeats, and a pull loop
 * that runs at most `slots` jobs at once from this builder's own stream.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { mkdir } from 'node:fs/promises';
import { KilnError } from '../../protocol/errors.ts';
import type { BuilderInfo } from '../../protocol/farm.ts';
import type { BuilderFarm } from '../../protocol/builder-port.ts';
import type { BlobStore } from '../../storage/port.ts';
import type { SandboxRunner } from './sandbox.ts';
import { runJob } from './run-job.ts';
import { createBlobCache } from './materialize.ts';
import { createToolchainCache, type ToolchainCache } from './toolchain-cache.ts';

export interface AgentOptions {
  farm: BuilderFarm;
  store: BlobStore;
  runner: SandboxRunner;
  name: string;
  platform: string;
  slots: number;
  workDir: string;
  leaseMs: number;
  /** Size limit of the toolchain cache. @default 10 GiB */
  toolchainCacheBytes?: number;
  version: string;
  log(msg: string): void;
}

export interface Agent {
  readonly id: string;
  /** Resolves when the agent stops: after `stop()`, or when its lease was lost (rejects then). */
  readonly done: Promise<void>;
  /** Stops pulling, stops running jobs (they are placed again elsewhere), ends the lease. */
  stop(): Promise<void>;
}

/** What the builder advertises; `warm` is refreshed by every heartbeat. */
function builderInfo(o: AgentOptions, id: string): BuilderInfo {
  return {
    id,
    name: o.name,
    platform: o.platform,
    slots: o.slots,
    version: o.version,
    hostname: hostname(),
    draining: false,
    warm: [],
    startedAt: new Date().toISOString(),
  };
}

/**
 * Renews the lease at half its length, advertising the warm toolchains; calls `onLost` once the
 * lease is found lost (the builder must stop: its jobs are being placed elsewhere).
 */
function startHeartbeat(
  o: AgentOptions,
  info: BuilderInfo,
  toolchains: ToolchainCache,
  onLost: (err: KilnError) => void,
): () => void {
  const timer = setInterval(
    () => {
      info.warm = toolchains.warm();
      o.farm.renew(info, o.leaseMs).catch((err: Error) => {
        if (err instanceof KilnError && err.code === 'ERR_CONFLICT') onLost(err);
        else o.log(`heartbeat failed: ${err.message}`);
      });
    },
    Math.max(100, Math.floor(o.leaseMs / 2)),
  );
  return () => clearInterval(timer);
}

export async function startAgent(o: AgentOptions): Promise<Agent> {
  const id = `${o.name}-${randomBytes(4).toString('hex')}`;
  const key = new Uint8Array(randomBytes(32));
  const info = builderInfo(o, id);
  const workDir = `${o.workDir}/${id}`;
  await mkdir(workDir, { recursive: true });
  const toolchains = await createToolchainCache({
    store: o.store,
    dir: `${o.workDir}/toolchains`,
    maxBytes: o.toolchainCacheBytes ?? 10 * 1024 ** 3,
    log: o.log,
  });
  info.warm = toolchains.warm();
  const running = new Map<string, AbortController>();
  const active = new Set<Promise<void>>();
  let stopping = false;
  let freed: (() => void) | null = null;

  const unwatch = await o.farm.watchControl(id, (msg) => {
    if (msg.type === 'stop') running.get(msg.jobId)?.abort();
  });
  await o.farm.register(info, key, o.leaseMs);
  o.log(`builder ${id} registered: ${o.platform}, ${o.slots} slot(s)`);

  const ctx = {
    farm: o.farm,
    store: o.store,
    runner: o.runner,
    bid: id,
    key,
    workDir,
    blobs: createBlobCache(o.store, `${o.workDir}/blobs`),
    toolchains,
    log: o.log,
    track(jobId: string, ctl: AbortController) {
      running.set(jobId, ctl);
      return () => running.delete(jobId);
    },
  };

  let leaseLost: Error | null = null;
  const stopHeartbeat = startHeartbeat(o, info, toolchains, (err) => {
    leaseLost = err;
    stopping = true;
    for (const c of running.values()) c.abort();
  });

  const loop = async (): Promise<void> => {
    while (!stopping) {
      if (active.size >= o.slots) {
        await new Promise<void>((r) => (freed = r));
        continue;
      }
      let batch;
      try {
        batch = await o.farm.pull(id, o.slots - active.size, 1000);
      } catch (err) {
        if (stopping) break;
        o.log(`pull failed: ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, 500));
        continue;
      }
      for (const msg of batch) {
        const p = runJob(ctx, msg)
          .catch((err: unknown) => o.log(`job ${msg.jobId}: ${String(err)}`))
          .finally(() => {
            active.delete(p);
            freed?.();
            freed = null;
          });
        active.add(p);
      }
    }
    await Promise.allSettled([...active]);
    stopHeartbeat();
    if (leaseLost) throw leaseLost;
  };
  const done = loop();
  done.catch(() => undefined);

  return {
    id,
    done,
    async stop() {
      stopping = true;
      freed?.();
      for (const c of running.values()) c.abort();
      await done.catch(() => undefined);
      await unwatch().catch(() => undefined);
      await o.farm.endLease(id).catch(() => undefined);
    },
  };
}
