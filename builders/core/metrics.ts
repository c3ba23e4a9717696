/**
 * What a builder agent reports about its work (the port; wiring/builder-metrics.ts implements it
 * with prom-client and serves it on `/metrics`). Every method is optional to call: a builder
 * without metrics passes {@link NO_METRICS}.
 */
export interface BuilderMetrics {
  /** A job attempt ended with a recorded result. Times in seconds. */
  jobFinished(state: string, t: { queueWaitSec: number; runSec: number; endToEndSec: number }): void;
  /** Preparing a job's sandbox (toolchain, inputs) took this long. */
  sandboxSetup(sec: number): void;
  /** Bytes read from (`in`) or written to (`out`) the blob store. */
  bytesMoved(direction: 'in' | 'out', bytes: number): void;
  /** A job was handed back to be placed again (drain bound, lost lease, full disk). */
  handedBack(): void;
  /** The builder registered (again, after a lost lease). */
  registered(): void;
  /** Slots, slots in use, warm toolchains and the size of both caches: sampled at each heartbeat. */
  sample(s: {
    slots: number;
    used: number;
    warmToolchains: number;
    toolchainCacheBytes: number;
    blobCacheBytes: number;
    draining: boolean;
  }): void;
}

export const NO_METRICS: BuilderMetrics = {
  jobFinished: () => undefined,
  sandboxSetup: () => undefined,
  bytesMoved: () => undefined,
  handedBack: () => undefined,
  registered: () => undefined,
  sample: () => undefined,
};
