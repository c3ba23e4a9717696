/**
 * `GET /api/v1/signers`: the result-signing public keys of the farm's builders — every live
 * builder's and those of builders gone for less than SIGNER_KEY_KEPT_SEC (30 days), so results
 * they signed while registered can still be checked. Any authenticated caller may read them
 * (public keys; what a client checks a result's signer against). `live` says whether the builder
 * still holds a lease.
 */
import { Hono } from 'hono';
import type { GatewayDeps, GatewayEnv } from '../context.ts';

export function signerRoutes(deps: GatewayDeps): Hono<GatewayEnv> {
  const app = new Hono<GatewayEnv>();
  app.get('/', async (c) => {
    await deps.authenticate(c.req.raw);
    const [signers, builders] = await Promise.all([deps.farm.listSigners(), deps.farm.listBuilders()]);
    const now = Date.now();
    const live = new Set(builders.filter((b) => b.leaseExpiresAt >= now).map((b) => b.info.id));
    return c.json({
      signers: signers.map((s) => ({
        builder: s.builder,
        name: s.name,
        platform: s.platform,
        key: s.key,
        registeredAt: s.registeredAt,
        lastSeen: new Date(s.lastSeen).toISOString(),
        live: live.has(s.builder),
      })),
    });
  });
  return app;
}
