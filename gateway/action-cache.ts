/**
 * Action-cache reads and scopes. A tenant reads and writes its own scope; an admin may name
 * shared scopes written by some tenants (e.g. CI) and read by others. The gateway only READS the
 * cache: results are written by builders, never by a client.
 */
import { z } from 'zod';
import { actionKey, tenantScope, type ActionResult } from '../protocol/action.ts';
import type { BlobStore } from '../storage/port.ts';
import { isResultSignature } from '../protocol/result-signature.ts';

export const cacheConfigSchema = z
  .object({
    /** Shared scopes: who writes them, who reads them. @default [] */
    shared: z
      .array(
        z
          .object({
            scope: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/),
            writers: z.array(z.string().min(1)).min(1),
            readers: z.array(z.string().min(1)).default([]),
          })
          .strict(),
      )
      .default([]),
  })
  .strict();
export type CacheConfig = z.infer<typeof cacheConfigSchema>;

/** The scope a tenant's successful jobs are written to, and the scopes it reads (in order). */
export function scopesFor(tenant: string, cfg: CacheConfig): { write: string; read: string[] } {
  const shared = cfg.shared.find((s) => s.writers.includes(tenant));
  const readable = cfg.shared
    .filter((s) => s.writers.includes(tenant) || s.readers.includes(tenant))
    .map((s) => `s:${s.scope}`);
  return {
    write: shared ? `s:${shared.scope}` : tenantScope(tenant),
    read: [tenantScope(tenant), ...readable],
  };
}

/**
 * The first cached result of `digest` in `scopes`, or null. A damaged entry counts as a miss, and
 * so does one without a signature block (written before signed results, or stripped): the job
 * runs again and its builder writes a signed entry. Whether a signature is valid is the client's
 * check (client/verify-result.ts), never the gateway's.
 */
export async function lookupAction(
  store: BlobStore,
  scopes: string[],
  digest: string,
): Promise<ActionResult | null> {
  for (const scope of scopes) {
    const body = await store.get(actionKey(scope, digest));
    if (!body) continue;
    try {
      const entry = JSON.parse(await new Response(body).text()) as ActionResult;
      if (isResultSignature(entry.signature)) return entry;
    } catch {
      continue;
    }
  }
  return null;
}
