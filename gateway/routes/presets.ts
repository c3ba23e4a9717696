/**
 * Named toolchain presets, shared by every tenant:
 *   GET    /api/v1/presets                      `{ presets: [...] }`, sorted by name@platform
 *   GET    /api/v1/presets/{name@platform}      the preset
 *   PUT    /api/v1/presets/{name@platform}      `{ digest, compiler, targets? }`; the toolchain must be
 *          uploaded; 201 when created, 200 when replaced (someone else's preset: admin only)
 *   DELETE /api/v1/presets/{name@platform}      owner or admin; answers the removed preset
 * Mounted by ./toolchains.ts.
 */
import { Hono, type MiddlewareHandler } from 'hono';
import { KilnError } from '../../protocol/errors.ts';
import { toolchainKey } from '../../protocol/store-keys.ts';
import { parsePresetId, presetId, presetIdProblem, presetPutSchema } from '../../protocol/toolchain.ts';
import type { PresetId, PresetRecord } from '../../protocol/toolchain.ts';
import { parseOrThrow } from '../../protocol/validate.ts';
import type { GatewayDeps, GatewayEnv } from '../context.ts';
import { readJson } from '../errors.ts';
import { isOwner, needPresets } from '../toolchains/access.ts';

function idParam(raw: string): PresetId {
  const id = parsePresetId(raw);
  if (!id) throw new KilnError('ERR_VALIDATION', presetIdProblem(raw));
  return id;
}

function changedMeanwhile(id: string): KilnError {
  return new KilnError('ERR_CONFLICT', `preset ${id} was changed by someone else meanwhile; try again`);
}

/** Preset routes, mounted at /api/v1/presets; `jsonLimit` bounds the PUT body. */
export function presetRoutes(deps: GatewayDeps, jsonLimit: MiddlewareHandler): Hono<GatewayEnv> {
  const app = new Hono<GatewayEnv>();

  app.get('/', async (c) => {
    await deps.authenticate(c.req.raw);
    const presets = await needPresets(deps).list();
    presets.sort((a, b) => (presetId(a) < presetId(b) ? -1 : presetId(a) > presetId(b) ? 1 : 0));
    return c.json({ presets });
  });

  app.get('/:id', async (c) => {
    await deps.authenticate(c.req.raw);
    const id = presetId(idParam(c.req.param('id')));
    const rec = await needPresets(deps).get(id);
    if (!rec) throw new KilnError('ERR_NOT_FOUND', `no preset ${id}`);
    return c.json(rec);
  });

  app.put('/:id', jsonLimit, async (c) => {
    const principal = await deps.authenticate(c.req.raw);
    const presets = needPresets(deps);
    const { name, platform } = idParam(c.req.param('id'));
    const id = `${name}@${platform}`;
    const body = parseOrThrow(presetPutSchema, await readJson(c), 'preset');
    const st = await deps.store.stat(toolchainKey(body.digest));
    if (!st) {
      throw new KilnError('ERR_BLOBS_MISSING', `toolchain ${body.digest} is not on the farm: push it first`, {
        detail: { missing: [body.digest] },
      });
    }
    const current = await presets.get(id);
    if (current && !principal.admin && !isOwner(principal, current.owner)) {
      throw new KilnError(
        'ERR_FORBIDDEN',
        `preset ${id} belongs to ${current.owner.sub} (${current.owner.tenant}): only they or an admin may replace it`,
      );
    }
    const owner = { sub: principal.sub, tenant: principal.tenant };
    const rec: PresetRecord = {
      name,
      platform,
      digest: body.digest,
      size: st.size,
      compiler: body.compiler,
      ...(body.targets && body.targets.length > 0 ? { targets: body.targets } : {}),
      owner,
      createdAt: new Date().toISOString(),
    };
    if (!(await presets.put(rec, current))) throw changedMeanwhile(id);
    // A toolchain uploaded by presigned URL before anyone claimed it belongs to its first publisher.
    await presets.claim(body.digest, owner);
    return c.json(rec, current ? 200 : 201);
  });

  app.delete('/:id', async (c) => {
    const principal = await deps.authenticate(c.req.raw);
    const presets = needPresets(deps);
    const id = presetId(idParam(c.req.param('id')));
    const current = await presets.get(id);
    if (!current) throw new KilnError('ERR_NOT_FOUND', `no preset ${id}`);
    if (!principal.admin && !isOwner(principal, current.owner)) {
      throw new KilnError(
        'ERR_FORBIDDEN',
        `preset ${id} belongs to ${current.owner.sub} (${current.owner.tenant}): only they or an admin may remove it`,
      );
    }
    if (!(await presets.delete(current))) throw changedMeanwhile(id);
    return c.json(current);
  });

  return app;
}
