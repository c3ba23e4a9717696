/** Liveness, readiness, farm status and Prometheus metrics. */
import { Hono } from 'hono';
import type { GatewayDeps, GatewayEnv } from '../context.ts';
import type { Metrics } from '../metrics.ts';

/** How long a readiness probe waits for each dependency: a load balancer wants a fast answer. */
const READY_PROBE_MS = 3000;

function bounded<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what} did not answer within ${READY_PROBE_MS} ms`)),
      READY_PROBE_MS,
    );
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

export function healthRoutes(deps: GatewayDeps, metrics: Metrics): Hono<GatewayEnv> {
  const app = new Hono<GatewayEnv>();
  app.get('/healthz', (c) => c.json({ ok: true }));
  app.get('/readyz', async (c) => {
    try {
      await bounded(deps.farm.ping(), 'Redis');
      await bounded(deps.store.stat('health/ready-probe'), 'the blob store');
      const now = Date.now();
      if (!(await bounded(deps.farm.listBuilders(), 'Redis')).some((b) => b.leaseExpiresAt >= now))
        throw new Error('no live builder');
      return c.json({ ok: true });
    } catch (err) {
      return c.json(
        { error: { code: 'ERR_UNAVAILABLE', message: `not ready: ${(err as Error).message}` } },
        503,
        { 'Retry-After': '1' },
      );
    }
  });
  app.get('/api/v1/status', async (c) => {
    await deps.authenticate(c.req.raw);
    const [builders, drains] = await Promise.all([deps.farm.listBuilders(), deps.farm.listDrains()]);
    const now = Date.now();
    return c.json({
      version: deps.version,
      store: deps.store.kind,
      builders: builders.map((b) => ({
        ...b.info,
        draining: b.info.draining || b.drain !== null,
        drain: b.drain,
        load: b.load,
        live: b.leaseExpiresAt >= now,
      })),
      drained: [...drains].map(([name, mark]) => ({ name, ...mark })),
    });
  });
  app.get('/metrics', async (c) => {
    const builders = await deps.farm.listBuilders();
    const now = Date.now();
    const live = builders.filter((b) => b.leaseExpiresAt >= now);
    const gauges = {
      kiln_builders_live: { help: 'Builders holding a live lease (farm-wide).', value: live.length },
      kiln_builders_draining: {
        help: 'Live builders that take no new jobs (farm-wide).',
        value: live.filter((b) => b.info.draining).length,
      },
      kiln_slots_total: {
        help: 'Job slots of live builders (farm-wide).',
        value: live.reduce((n, b) => n + b.info.slots, 0),
      },
      kiln_slots_used: { help: 'Job slots in use (farm-wide).', value: live.reduce((n, b) => n + b.load, 0) },
      kiln_jobs_to_place_again: {
        help: 'Jobs waiting in the to-place-again set (farm-wide).',
        value: (await deps.farm.toPlaceAgain()).length,
      },
    };
    return c.text(metrics.render(gauges), 200, {
      'Content-Type': 'text/plain; version=0.0.4; charset=utf-8',
    });
  });
  return app;
}
