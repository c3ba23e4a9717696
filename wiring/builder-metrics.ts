/**
 * The builder's metrics with prom-client (builders run on Node), served as Prometheus text on
 * `GET /metrics` of a small HTTP listener (`metricsPort` in builder.toml; 127.0.0.1 unless
 * `metricsHost` says otherwise). Process metrics (CPU, memory, event-loop lag) come with it.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import client from 'prom-client';
import type { BuilderMetrics } from '../builders/core/metrics.ts';

const SECONDS = [0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 600];

export interface ServedMetrics {
  metrics: BuilderMetrics;
  /** `http://host:port/metrics`, or null when not served. */
  url: string | null;
  close(): Promise<void>;
}

/** Builds the registry; serves it when `port` is given (0 picks a free port). */
export async function startBuilderMetrics(
  port: number | undefined,
  host = '127.0.0.1',
): Promise<ServedMetrics> {
  // No builder label of its own: Prometheus labels each target (instance) when it scrapes.
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry, prefix: 'kiln_builder_' });
  const reg = { registers: [registry] };
  const jobs = new client.Counter({
    name: 'kiln_builder_jobs_total',
    help: 'Job attempts that ended with a recorded result, by final state.',
    labelNames: ['state'],
    ...reg,
  });
  const hist = (name: string, help: string) => new client.Histogram({ name, help, buckets: SECONDS, ...reg });
  const queueWait = hist(
    'kiln_builder_job_queue_wait_seconds',
    'From job creation to its start on this builder.',
  );
  const run = hist('kiln_builder_job_run_seconds', 'From start to result on this builder.');
  const e2e = hist('kiln_builder_job_end_to_end_seconds', 'From job creation to its recorded result.');
  const setup = new client.Histogram({
    name: 'kiln_builder_sandbox_setup_seconds',
    help: "Preparing a job's sandbox: toolchain and inputs.",
    buckets: SECONDS,
    ...reg,
  });
  const bytes = new client.Counter({
    name: 'kiln_builder_store_bytes_total',
    help: 'Bytes moved between this builder and the blob store, by direction (in, out).',
    labelNames: ['direction'],
    ...reg,
  });
  const handedBack = new client.Counter({
    name: 'kiln_builder_jobs_handed_back_total',
    help: 'Jobs handed back to be placed again (drain bound, lost lease, full disk).',
    ...reg,
  });
  const registrations = new client.Counter({
    name: 'kiln_builder_registrations_total',
    help: 'Registrations of this builder process (more than one: it lost its lease and came back).',
    ...reg,
  });
  const gauge = (name: string, help: string) => new client.Gauge({ name, help, ...reg });
  const slots = gauge('kiln_builder_slots', 'Job slots of this builder.');
  const used = gauge('kiln_builder_slots_used', 'Job slots in use.');
  const warm = gauge('kiln_builder_toolchains_warm', 'Toolchains unpacked and ready in the cache.');
  const cacheBytes = gauge(
    'kiln_builder_toolchain_cache_bytes',
    'Unpacked bytes in the toolchain cache (toolchainCacheBytes is its limit).',
  );
  const blobBytes = gauge(
    'kiln_builder_blob_cache_bytes',
    'Bytes of input blobs kept in the blob cache (blobCacheBytes is its limit).',
  );
  const draining = gauge('kiln_builder_draining', '1 while the builder takes no new jobs.');

  const metrics: BuilderMetrics = {
    jobFinished(state, t) {
      jobs.inc({ state });
      queueWait.observe(t.queueWaitSec);
      run.observe(t.runSec);
      e2e.observe(t.endToEndSec);
    },
    sandboxSetup: (sec) => setup.observe(sec),
    bytesMoved: (direction, n) => bytes.inc({ direction }, n),
    handedBack: () => handedBack.inc(),
    registered: () => registrations.inc(),
    sample(s) {
      slots.set(s.slots);
      used.set(s.used);
      warm.set(s.warmToolchains);
      cacheBytes.set(s.toolchainCacheBytes);
      blobBytes.set(s.blobCacheBytes);
      draining.set(s.draining ? 1 : 0);
    },
  };
  if (port === undefined) return { metrics, url: null, close: async () => undefined };
  const server: Server = createServer((req, res) => {
    if (req.method !== 'GET' || req.url !== '/metrics') {
      res.writeHead(404, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'ERR_NOT_FOUND', message: 'only GET /metrics here' } }));
      return;
    }
    registry.metrics().then(
      (text) => {
        res.writeHead(200, { 'Content-Type': registry.contentType });
        res.end(text);
      },
      (err: Error) => {
        res.writeHead(500, { 'Content-Type': 'text/plain' });
        res.end(err.message);
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const a = server.address() as AddressInfo;
  return {
    metrics,
    url: `http://${host}:${a.port}/metrics`,
    close: () => new Promise((r) => server.close(() => r())),
  };
}
