/**
 * The builder agent: a random HS256 key and an Ed25519 result-signing key pair per registration
 * (builders/core/result-signer.ts: the private half only in memory), a lease renewed by heartbeats, and a
 * pull loop that runs at most `slots` jobs at once from its own stream.
 *
 * It never gives up on the farm: a lost lease (Redis restarted without its data, or down longer
 * than the lease) hands the running jobs back and registers again (a new id and lease, same host);
 * messages delivered but never acknowledged are reclaimed (XAUTOCLAIM); a job's writes are retried
 * until they land (persistent-farm.ts). `stop()` drains: no new jobs, running ones finish within
 * `drainMs`, the rest are handed back to be placed again.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { mkdir } from 'node:fs/promises';
import { KilnError } from '../../protocol/errors.ts';
import type { BuilderInfo } from '../../protocol/farm.ts';
import { DEFAULT_PROFILE } from '../../protocol/job.ts';
import type { BuilderFarm, PulledJob } from '../../protocol/builder-port.ts';
import type { BlobStore } from '../../storage/port.ts';
import type { SandboxRunner } from './sandbox.ts';
import { HAND_BACK, runJob, type JobContext } from './run-job.ts';
import { createBlobCache } from './blob-cache.ts';
import { createToolchainCache } from './toolchain-cache.ts';
import { persistentFarm } from './persistent-farm.ts';
import { cleanWorkDir } from './clean-work-dir.ts';
import { createDiskGuard } from './disk-guard.ts';
import { NO_METRICS, type BuilderMetrics } from './metrics.ts';
import { meteredStore } from './metered-store.ts';
import { PLAIN_DISKS, type JobDisks } from './job-disk.ts';
import { createResultSigner, type ResultSigner } from './result-signer.ts';
import { patientStore } from './store-retry.ts';

export interface AgentOptions {
  farm: BuilderFarm;
  store: BlobStore;
  runner: SandboxRunner;
  name: string;
  platform: string;
  slots: number;
  workDir: string;
  leaseMs: number;
  /** The job directories' file systems (per-job disk quota). @default PLAIN_DISKS (none) */
  disks?: JobDisks;
  /** Size limit of the toolchain cache. @default 10 GiB */
  toolchainCacheBytes?: number;
  /** Size limit of the blob cache. @default 10 GiB */
  blobCacheBytes?: number;
  /** Eviction brings a cache down to this fraction of its limit. @default 0.8 */
  cacheLowWater?: number;
  /** How long `stop()` lets running jobs finish before handing them back. @default 60000 */
  drainMs?: number;
  /** Free space the work disk must have again before a full builder takes jobs. @default 256 MiB */
  minFreeBytes?: number;
  /** Below this much free space on the work disk, no job is taken. @default 1 GiB */
  reserveBytes?: number;
  version: string;
  /** Where the builder reports its work. @default none */
  metrics?: BuilderMetrics;
  log(msg: string): void;
}

export interface Agent {
  /** The current registration's id (a new one after a lost lease). */
  readonly id: string;
  /** Resolves when the agent has stopped (after `stop()`). */
  readonly done: Promise<void>;
  /** Drains: stops pulling, lets running jobs finish within `drainMs`, hands the rest back, ends the lease. */
  stop(): Promise<void>;
}

interface Registration {
  id: string;
  key: Uint8Array;
  signer: ResultSigner;
  workDir: string;
  unwatch(): Promise<void>;
}

export async function startAgent(o: AgentOptions): Promise<Agent> {
  const disks = o.disks ?? PLAIN_DISKS;
  await disks.sweep(o.workDir);
  await cleanWorkDir(o.workDir, o.log);
  const metrics = o.metrics ?? NO_METRICS;
  // Store calls wait out a short store outage instead of failing the job (store-retry.ts).
  const store = patientStore(meteredStore(o.store, metrics));
  const lowWater = o.cacheLowWater ?? 0.8;
  const toolchainBytes = o.toolchainCacheBytes ?? 10 * 1024 ** 3;
  const toolchains = await createToolchainCache({
    store,
    dir: `${o.workDir}/toolchains`,
    maxBytes: toolchainBytes,
    lowWaterBytes: Math.floor(toolchainBytes * lowWater),
    log: o.log,
  });
  const blobBytes = o.blobCacheBytes ?? 10 * 1024 ** 3;
  const blobs = createBlobCache(store, `${o.workDir}/blobs`, {
    maxBytes: blobBytes,
    lowWaterBytes: Math.floor(blobBytes * lowWater),
    log: o.log,
  });
  const hardStop = new AbortController();
  const farm = persistentFarm(o.farm, hardStop.signal, o.log);
  const running = new Map<string, AbortController>();
  const inFlight = new Set<string>();
  const active = new Set<Promise<void>>();
  let stopping = false;
  let freed: (() => void) | null = null;
  const wake = (): void => {
    freed?.();
    freed = null;
  };
  const info: BuilderInfo = {
    id: '',
    name: o.name,
    platform: o.platform,
    slots: o.slots,
    version: o.version,
    hostname: hostname(),
    draining: false,
    warm: toolchains.warm(),
    startedAt: new Date().toISOString(),
  };
  const sampleMetrics = (): void =>
    metrics.sample({
      slots: o.slots,
      used: active.size,
      warmToolchains: info.warm.length,
      toolchainCacheBytes: toolchains.usedBytes(),
      blobCacheBytes: blobs.usedBytes(),
      draining: info.draining,
    });
  const disk = createDiskGuard(
    o.workDir,
    { minFreeBytes: o.minFreeBytes ?? 256 * 1024 ** 2, reserveBytes: o.reserveBytes ?? 1024 ** 3 },
    o.log,
  );
  /** Says the builder is draining at once (not at the next heartbeat) when its disk stops it. */
  const advertiseFull = (): void => {
    if (stopping || info.draining) return;
    info.draining = true;
    void o.farm.renew(info, o.leaseMs).catch(() => undefined);
  };
  info.draining = disk.full(); // a builder that starts below its reserve registers draining

  const register = async (): Promise<Registration> => {
    const id = `${o.name}-${randomBytes(4).toString('hex')}`;
    const key = new Uint8Array(randomBytes(32));
    const signer = createResultSigner();
    const workDir = `${o.workDir}/r-${randomBytes(8).toString('hex')}`; // opaque: not the builder id
    await mkdir(workDir, { recursive: true });
    const unwatch = await o.farm.watchControl(id, (msg) => {
      if (msg.type === 'stop') running.get(msg.jobId)?.abort();
    });
    info.id = id;
    info.signingKey = signer.publicKey;
    await o.farm.register(info, key, o.leaseMs);
    o.log(`builder ${id} registered: ${o.platform}, ${o.slots} slot(s)`);
    metrics.registered();
    sampleMetrics();
    return { id, key, signer, workDir, unwatch };
  };
  // Sandboxes of the default profile made ready before the first job (runners that can).
  await o.runner.prepare?.(DEFAULT_PROFILE);
  let reg = await register();
  let lost = false;

  const ctxOf = (r: Registration): JobContext => ({
    farm,
    store,
    runner: o.runner,
    metrics,
    bid: r.id,
    platform: o.platform,
    key: r.key,
    signer: r.signer,
    workDir: r.workDir,
    blobs,
    toolchains,
    disks,
    log: o.log,
    track(jobId, ctl) {
      running.set(jobId, ctl);
      return () => running.delete(jobId);
    },
    diskFull: () => {
      const full = disk.full();
      if (full) advertiseFull();
      return full;
    },
    onDiskFull: () => {
      disk.markFull();
      advertiseFull();
    },
  });
  let ctx = ctxOf(reg);

  const handBackAll = (): void => {
    for (const c of running.values()) c.abort(HAND_BACK);
  };

  const heartbeat = setInterval(
    () => {
      info.warm = toolchains.warm();
      if (!stopping) info.draining = disk.stillFull();
      sampleMetrics();
      o.farm.renew(info, o.leaseMs).catch((err: Error) => {
        if (err instanceof KilnError && err.code === 'ERR_CONFLICT') {
          if (!lost) o.log(`builder ${reg.id} lost its lease; handing its jobs back and registering again`);
          lost = true;
          handBackAll();
          wake();
        } else {
          o.log(`heartbeat failed: ${err.message}`);
        }
      });
    },
    Math.max(100, Math.floor(o.leaseMs / 2)),
  );

  const start = (msg: PulledJob): void => {
    inFlight.add(msg.ackId);
    const p = runJob(ctx, msg)
      .catch((err: unknown) => o.log(`job ${msg.jobId}: ${String(err)}`))
      .finally(() => {
        inFlight.delete(msg.ackId);
        active.delete(p);
        wake();
      });
    active.add(p);
  };

  /** After a lost lease: wait for the handed-back jobs to wind down, then register anew. */
  const reRegister = async (): Promise<void> => {
    await Promise.allSettled([...active]);
    await reg.unwatch().catch(() => undefined);
    for (;;) {
      try {
        reg = await register();
        ctx = ctxOf(reg);
        lost = false;
        return;
      } catch (err) {
        if (stopping) return;
        o.log(`registering again failed: ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  };

  let lastReclaim = Date.now();
  const loop = async (): Promise<void> => {
    while (!stopping) {
      if (lost) {
        await reRegister();
        continue;
      }
      if (active.size >= o.slots) {
        await new Promise<void>((r) => (freed = r));
        continue;
      }
      let batch: PulledJob[];
      try {
        batch = await o.farm.pull(reg.id, o.slots - active.size, 1000);
        // Messages delivered but never acknowledged, and not being handled here: their handler was lost.
        if (Date.now() - lastReclaim > o.leaseMs && active.size + batch.length < o.slots) {
          lastReclaim = Date.now();
          const back = await o.farm.reclaim(reg.id, 2 * o.leaseMs, o.slots - active.size - batch.length);
          batch.push(...back.filter((m) => !inFlight.has(m.ackId)));
        }
      } catch (err) {
        if (stopping) break;
        o.log(`pull failed: ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, 500));
        continue;
      }
      // Pulled while stopping, or just as the lease was lost: never started, they are placed again.
      // A lost lease goes round to reRegister; only stopping ends the loop (a break here left a
      // builder that never came back, the heartbeat stopped with it).
      if (stopping) break;
      if (lost) continue;
      for (const msg of batch) start(msg);
    }
  };
  const done = (async () => {
    await loop();
    await Promise.allSettled([...active]);
    clearInterval(heartbeat);
  })();
  done.catch(() => undefined);

  return {
    get id() {
      return reg.id;
    },
    done,
    async stop() {
      if (stopping) return done;
      stopping = true;
      info.draining = true;
      o.log(`builder ${reg.id} draining: ${running.size} job(s) running, no new ones`);
      await o.farm.renew(info, o.leaseMs).catch(() => undefined);
      wake();
      const bound = new Promise<void>((r) => setTimeout(r, o.drainMs ?? 60_000).unref());
      await Promise.race([Promise.allSettled([...active]), bound]);
      if (running.size > 0) {
        o.log(`drain bound reached; handing ${running.size} job(s) back`);
        handBackAll();
      }
      await done;
      await o.runner.close?.().catch((err: unknown) => o.log(`sandbox runner: ${String(err)}`));
      await disks.close().catch((err: unknown) => o.log(`job disks: ${(err as Error).message}`));
      hardStop.abort();
      await reg.unwatch().catch(() => undefined);
      // Ending the lease lets a sweeper place whatever this builder still held (handed back or unpulled).
      await o.farm.endLease(reg.id).catch(() => undefined);
    },
  };
}
