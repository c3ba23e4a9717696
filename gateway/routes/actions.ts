/**
 * `GET /api/v1/actions/{key}`: a cached action result by its key, from the scopes the caller
 * reads. kiln cc's direct mode asks this with a key it remembered, without sending the source.
 * The key is a SHA-256 over everything the result depends on (protocol/action.ts), so knowing
 * one is knowing the inputs; a tenant reads only its own and its shared scopes.
 */
import { Hono } from 'hono';
import { KilnError } from '../../protocol/errors.ts';
import { lookupAction, scopesFor } from '../action-cache.ts';
import type { GatewayDeps, GatewayEnv } from '../context.ts';
import { signedAction } from '../signature-view.ts';

export function actionRoutes(deps: GatewayDeps): Hono<GatewayEnv> {
  const app = new Hono<GatewayEnv>();
  app.get('/:key', async (c) => {
    const principal = await deps.authenticate(c.req.raw);
    const key = c.req.param('key');
    if (!/^[0-9a-f]{64}$/.test(key))
      throw new KilnError('ERR_VALIDATION', 'an action key is 64 lowercase hex digits (a SHA-256)');
    const scopes = scopesFor(principal.tenant, deps.cache ?? { shared: [] });
    const result = await lookupAction(deps.store, scopes.read, key);
    if (!result) throw new KilnError('ERR_NOT_FOUND', `no cached result for action ${key}`);
    return c.json({ action: key, result: await signedAction(deps.farm, result) });
  });
  return app;
}
