/**
 * The farm dashboard: `GET /dashboard` serves a static page (no data in it); the page reads
 * `GET /api/v1/dashboard` with the caller's own bearer token (authenticated like the rest of the
 * API: an admin sees every tenant's jobs, anyone else their own) and follows a job's log through
 * the ordinary log route. Cache hit ratio over time is sampled from the gateway's counters each
 * time the dashboard is read (at most one point per 5 s, the last 120 kept).
 */
import { Hono } from 'hono';
import type { GatewayDeps, GatewayEnv } from '../context.ts';
import type { Metrics } from '../metrics.ts';
import { isFinished, toJobView } from '../job-view.ts';
import { DASHBOARD_HTML } from './page.ts';

interface Point {
  t: number;
  hits: number;
  misses: number;
}

export function dashboardRoutes(deps: GatewayDeps, metrics: Metrics): Hono<GatewayEnv> {
  const app = new Hono<GatewayEnv>();
  const series: Point[] = [];
  const sample = (): void => {
    const now = Date.now();
    if (series.length > 0 && now - series.at(-1)!.t < 5000) return;
    series.push({
      t: now,
      hits: metrics.value('kiln_action_cache_lookups_total', { result: 'hit' }),
      misses: metrics.value('kiln_action_cache_lookups_total', { result: 'miss' }),
    });
    if (series.length > 120) series.shift();
  };

  app.get('/dashboard', (c) =>
    c.html(DASHBOARD_HTML, 200, {
      'Cache-Control': 'no-store',
      'Content-Security-Policy': "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'",
    }),
  );

  app.get('/api/v1/dashboard', async (c) => {
    const principal = await deps.authenticate(c.req.raw);
    sample();
    const now = Date.now();
    const builders = (await deps.farm.listBuilders()).filter((b) => b.leaseExpiresAt >= now);
    const recs = await Promise.all((await deps.farm.recentJobs(200)).map((id) => deps.farm.getJob(id)));
    const visible = recs.filter((r) => r && (principal.admin || r.tenant === principal.tenant));
    const jobs = visible.slice(0, 50).map((r) => ({ ...toJobView(r!), tenant: r!.tenant }));
    return c.json({
      builders: builders.map((b) => ({
        id: b.info.id,
        platform: b.info.platform,
        slots: b.info.slots,
        load: b.load,
        warm: b.info.warm.length,
        draining: b.info.draining,
      })),
      queue: {
        queued: visible.filter((r) => r!.state === 'queued').length,
        running: visible.filter((r) => r!.state === 'running').length,
        finished: visible.filter((r) => isFinished(r!)).length,
        toPlaceAgain: (await deps.farm.toPlaceAgain()).length,
      },
      jobs,
      cache: series,
      admin: principal.admin,
    });
  });
  return app;
}
