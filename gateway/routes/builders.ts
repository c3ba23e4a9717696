/**
 * Builders, by name (builder.toml `name`) or by id (`<name>-<random>`, a new one per start):
 *   GET  /api/v1/builders/{name|id}           the name, its drain mark, the builders registered under it
 *   POST /api/v1/builders/{name|id}/drain     admin: placement skips it from now on, running jobs finish
 *   POST /api/v1/builders/{name|id}/undrain   admin: placement uses it again
 * A drain is kept by name, apart from what the builder rewrites on every heartbeat, so it holds
 * across the agent's restart until it is undrained. Unknown names answer 404.
 */
import { Hono } from 'hono';
import { KilnError } from '../../protocol/errors.ts';
import type { BuilderView, DrainMark } from '../../protocol/farm.ts';
import type { GatewayDeps, GatewayEnv } from '../context.ts';

const NAME = /^[A-Za-z0-9_.-]{1,80}$/;

interface Resolved {
  name: string;
  views: BuilderView[];
  drain: DrainMark | null;
}

/** Finds the name `raw` stands for: a registered id, a registered name, or a drained name. */
async function resolve(deps: GatewayDeps, raw: string): Promise<Resolved> {
  if (!NAME.test(raw)) {
    throw new KilnError('ERR_VALIDATION', `not a builder name or id: ${JSON.stringify(raw.slice(0, 100))}`);
  }
  const [all, drains] = await Promise.all([deps.farm.listBuilders(), deps.farm.listDrains()]);
  const byId = all.find((b) => b.info.id === raw);
  const name = byId ? (byId.info.name ?? byId.info.id) : raw;
  const views = all.filter((b) => (b.info.name ?? b.info.id) === name);
  const drain = drains.get(name) ?? null;
  if (views.length === 0 && !drain) {
    throw new KilnError(
      'ERR_NOT_FOUND',
      `no builder named ${raw} is registered (kiln farm status lists them)`,
    );
  }
  return { name, views, drain };
}

function body(r: Resolved, now: number): Record<string, unknown> {
  return {
    name: r.name,
    draining: r.drain !== null,
    drain: r.drain,
    builders: r.views.map((b) => ({
      id: b.info.id,
      load: b.load,
      slots: b.info.slots,
      version: b.info.version,
      live: b.leaseExpiresAt >= now,
    })),
  };
}

async function admin(deps: GatewayDeps, req: Request): Promise<string> {
  const p = await deps.authenticate(req);
  if (!p.admin) throw new KilnError('ERR_FORBIDDEN', 'draining builders is for farm admins only');
  return p.sub;
}

export function builderRoutes(deps: GatewayDeps): Hono<GatewayEnv> {
  const app = new Hono<GatewayEnv>();

  app.get('/:id', async (c) => {
    await deps.authenticate(c.req.raw);
    return c.json(body(await resolve(deps, c.req.param('id')), Date.now()));
  });

  app.post('/:id/drain', async (c) => {
    const by = await admin(deps, c.req.raw);
    const r = await resolve(deps, c.req.param('id'));
    r.drain = await deps.farm.drainBuilder(r.name, { by, at: new Date().toISOString() });
    deps.log(`builder ${r.name} set draining by ${by}`);
    return c.json(body(r, Date.now()));
  });

  app.post('/:id/undrain', async (c) => {
    const by = await admin(deps, c.req.raw);
    const r = await resolve(deps, c.req.param('id'));
    if (await deps.farm.undrainBuilder(r.name)) deps.log(`builder ${r.name} undrained by ${by}`);
    r.drain = null;
    return c.json(body(r, Date.now()));
  });

  return app;
}
