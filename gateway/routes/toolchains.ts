/**
 * Toolchain archives, shared by every tenant and named by their SHA-256:
 *   HEAD   /api/v1/toolchains/{sha256}         200 + Content-Length, or 404
 *   GET    /api/v1/toolchains/{sha256}         `{ digest, size, owner }` (JSON)
 *   PUT    /api/v1/toolchains/{sha256}         upload through the gateway, streamed and hashed
 *   POST   /api/v1/toolchains/{sha256}/upload  `{ size }` → where to PUT it (presigned when possible)
 *   DELETE /api/v1/toolchains/{sha256}         owner or admin, and only when no preset names it
 * Presets live under /api/v1/presets (./presets.ts); both groups are mounted by
 * {@link toolchainRoutes} at /api/v1.
 *
 * Size limit: {@link TOOLCHAIN_MAX_BYTES} (a constant, not `limits.maxInlineBlobBytes`): a local
 * store cannot presign, so there every toolchain goes through the gateway, and compilers are
 * often hundreds of MiB. The gateway never buffers the archive: it streams it to the store.
 */
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { KilnError } from '../../protocol/errors.ts';
import { toolchainKey } from '../../protocol/store-keys.ts';
import { toolchainUploadSchema, type ToolchainUploadAnswer } from '../../protocol/toolchain.ts';
import { parseOrThrow } from '../../protocol/validate.ts';
import type { GatewayDeps, GatewayEnv } from '../context.ts';
import { readJson } from '../errors.ts';
import { isOwner, needPresets } from '../toolchains/access.ts';
import { receiveVerified } from '../toolchains/receive.ts';
import { presetRoutes } from './presets.ts';

/** Largest toolchain archive accepted, through the gateway or presigned. @default 8 GiB */
export const TOOLCHAIN_MAX_BYTES = 8 * 1024 ** 3;
/** Largest single presigned PUT (S3's limit for one PutObject); bigger archives go through the gateway. */
const PRESIGN_MAX_BYTES = 5 * 1024 ** 3;
/** Lifetime of a presigned upload URL. */
const PRESIGN_TTL_SEC = 3600;

function checkDigest(raw: string): string {
  if (!/^[0-9a-f]{64}$/.test(raw))
    throw new KilnError('ERR_VALIDATION', 'toolchain digest must be 64 lower-case hex characters');
  return raw;
}

/** Toolchain and preset routes, mounted at /api/v1. */
export function toolchainRoutes(deps: GatewayDeps): Hono<GatewayEnv> {
  const { store } = deps;
  const app = new Hono<GatewayEnv>();
  const jsonLimit = bodyLimit({
    maxSize: deps.limits.maxJsonBytes,
    onError: () => {
      throw new KilnError('ERR_TOO_LARGE', `request body over ${deps.limits.maxJsonBytes} bytes`);
    },
  });

  // Hono answers HEAD with this GET handler (and drops the body).
  app.get('/toolchains/:digest', async (c) => {
    await deps.authenticate(c.req.raw);
    const digest = checkDigest(c.req.param('digest'));
    const st = await store.stat(toolchainKey(digest));
    if (!st) throw new KilnError('ERR_NOT_FOUND', `no toolchain ${digest} on this farm`);
    if (c.req.method === 'HEAD') return c.body(null, 200, { 'Content-Length': String(st.size) });
    const owner = (await deps.presets?.owner(digest)) ?? null;
    return c.json({ digest, size: st.size, owner });
  });

  app.put('/toolchains/:digest', async (c) => {
    const principal = await deps.authenticate(c.req.raw);
    const digest = checkDigest(c.req.param('digest'));
    const key = toolchainKey(digest);
    const st = await store.stat(key);
    if (st) {
      // Already here: the body is not read (a repeated push sends nothing), so the connection closes.
      return c.json({ digest, size: st.size, created: false }, 200, { Connection: 'close' });
    }
    const size = await receiveVerified(c.req.raw, store, key, digest, TOOLCHAIN_MAX_BYTES);
    await deps.presets?.claim(digest, { sub: principal.sub, tenant: principal.tenant });
    return c.json({ digest, size, created: true }, 201);
  });

  app.post('/toolchains/:digest/upload', jsonLimit, async (c) => {
    const principal = await deps.authenticate(c.req.raw);
    const digest = checkDigest(c.req.param('digest'));
    const { size } = parseOrThrow(toolchainUploadSchema, await readJson(c), 'upload request');
    if (size > TOOLCHAIN_MAX_BYTES)
      throw new KilnError('ERR_TOO_LARGE', `toolchain archives are limited to ${TOOLCHAIN_MAX_BYTES} bytes`);
    const key = toolchainKey(digest);
    const st = await store.stat(key);
    if (st) return c.json({ exists: true, size: st.size } satisfies ToolchainUploadAnswer);
    const signed =
      size <= PRESIGN_MAX_BYTES
        ? await store.presignPut(key, { size, sha256: digest, ttlSec: PRESIGN_TTL_SEC })
        : null;
    // The store checks the SHA-256 of a presigned PUT itself, so the uploader is recorded now.
    if (signed) await deps.presets?.claim(digest, { sub: principal.sub, tenant: principal.tenant });
    const upload = signed
      ? { method: 'PUT' as const, url: signed.url, headers: signed.headers }
      : { method: 'PUT' as const, url: `/api/v1/toolchains/${digest}`, headers: {} };
    return c.json({ exists: false, upload } satisfies ToolchainUploadAnswer);
  });

  app.delete('/toolchains/:digest', async (c) => {
    const principal = await deps.authenticate(c.req.raw);
    const presets = needPresets(deps);
    const digest = checkDigest(c.req.param('digest'));
    const key = toolchainKey(digest);
    if (!(await store.stat(key))) throw new KilnError('ERR_NOT_FOUND', `no toolchain ${digest} on this farm`);
    const owner = await presets.owner(digest);
    if (!principal.admin && !(owner && isOwner(principal, owner)))
      throw new KilnError('ERR_FORBIDDEN', `only the owner of toolchain ${digest} or an admin may delete it`);
    const users = (await presets.list())
      .filter((p) => p.digest === digest)
      .map((p) => `${p.name}@${p.platform}`);
    if (users.length > 0) {
      users.sort();
      throw new KilnError(
        'ERR_CONFLICT',
        `toolchain ${digest} is used by ${users.join(', ')}: remove those presets first`,
        {
          detail: { presets: users },
        },
      );
    }
    await store.delete(key);
    await presets.forget(digest);
    return c.body(null, 204);
  });

  app.route('/presets', presetRoutes(deps, jsonLimit));
  return app;
}
