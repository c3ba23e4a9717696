/**
 * Content-addressed blobs of a tenant. Clients ask which blobs are missing, then upload only those:
 * straight to the store by presigned URL when it can presign, else through the gateway (bounded).
 */
import { Hono } from 'hono';
import { z } from 'zod';
import { sha256Hex } from '../../protocol/digest.ts';
import { KilnError } from '../../protocol/errors.ts';
import { parseOrThrow } from '../../protocol/validate.ts';
import type { PresignedRequest } from '../../storage/port.ts';
import type { GatewayDeps, GatewayEnv } from '../context.ts';
import { blobKey } from '../../protocol/store-keys.ts';
import { readJson } from '../errors.ts';
import { MISSING_BLOBS_MAX } from '../../protocol/manifest.ts';

/** Store lookups one blobs/missing request runs at once. */
const MISSING_LOOKUPS_AT_ONCE = 16;

const digest = z.string().regex(/^[0-9a-f]{64}$/, 'must be a lower-case hex SHA-256 digest');
const missingSchema = z
  .object({
    blobs: z
      .array(z.object({ digest, size: z.number().int().min(0) }).strict())
      .max(MISSING_BLOBS_MAX, `at most ${MISSING_BLOBS_MAX} blobs per request: ask in several`),
  })
  .strict();

function checkDigest(raw: string): string {
  if (!/^[0-9a-f]{64}$/.test(raw))
    throw new KilnError('ERR_VALIDATION', 'blob digest must be 64 lower-case hex characters');
  return raw;
}

async function readBounded(req: Request, max: number): Promise<Uint8Array> {
  const declared = Number(req.headers.get('content-length') ?? NaN);
  if (declared > max)
    throw new KilnError('ERR_TOO_LARGE', `blob over ${max} bytes: upload it by presigned URL`);
  if (!req.body) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = req.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > max) {
      await reader.cancel();
      throw new KilnError('ERR_TOO_LARGE', `blob over ${max} bytes: upload it by presigned URL`);
    }
    chunks.push(value);
  }
  const out = new Uint8Array(total);
  let off = 0;
  for (const ch of chunks) {
    out.set(ch, off);
    off += ch.byteLength;
  }
  return out;
}

export function blobRoutes(deps: GatewayDeps): Hono<GatewayEnv> {
  const { store, limits } = deps;
  const app = new Hono<GatewayEnv>();

  app.post('/missing', async (c) => {
    const principal = await deps.authenticate(c.req.raw);
    const { blobs } = parseOrThrow(missingSchema, await readJson(c), 'blob list');
    const missing: string[] = [];
    const uploads: Record<string, PresignedRequest> = {};
    const unique = [...new Map(blobs.map((b) => [b.digest, b])).values()];
    // A few lookups at a time, so one large list never holds the gateway (or the store) for others.
    const queue = [...unique];
    const worker = async (): Promise<void> => {
      for (let b = queue.pop(); b !== undefined; b = queue.pop()) {
        const key = blobKey(principal.tenant, b.digest);
        // Present means whole: the size (and the store's checksum, where it keeps one) must match,
        // so an object truncated by a store that died mid-write is uploaded again.
        const st = await store.stat(key);
        if (st && st.size === b.size && (st.sha256 === undefined || st.sha256 === b.digest)) continue;
        missing.push(b.digest);
        const signed = await store.presignPut(key, { size: b.size, sha256: b.digest, ttlSec: 900 });
        uploads[b.digest] = signed ?? { method: 'PUT', url: `/api/v1/blobs/${b.digest}`, headers: {} };
      }
    };
    await Promise.all(Array.from({ length: MISSING_LOOKUPS_AT_ONCE }, worker));
    missing.sort();
    return c.json({ missing, uploads });
  });

  app.put('/:digest', async (c) => {
    const principal = await deps.authenticate(c.req.raw);
    const d = checkDigest(c.req.param('digest'));
    const bytes = await readBounded(c.req.raw, limits.maxInlineBlobBytes);
    const actual = await sha256Hex(bytes);
    if (actual !== d) throw new KilnError('ERR_DIGEST_MISMATCH', `body has digest ${actual}, not ${d}`);
    await store.put(blobKey(principal.tenant, d), bytes, bytes.byteLength);
    return c.json({ digest: d, size: bytes.byteLength }, 201);
  });

  app.get('/:digest', async (c) => {
    const principal = await deps.authenticate(c.req.raw);
    const key = blobKey(principal.tenant, checkDigest(c.req.param('digest')));
    const st = await store.stat(key);
    const body = st ? await store.get(key) : null;
    if (!st || !body) throw new KilnError('ERR_NOT_FOUND', 'no such blob');
    return c.body(body, 200, {
      'Content-Type': 'application/octet-stream',
      'Content-Length': String(st.size),
    });
  });

  return app;
}
