/** Gateway configuration: one schema, every problem reported at once with its path. */
import { z } from 'zod';
import { authConfigSchema } from './auth/config.ts';
import { cacheConfigSchema } from './action-cache.ts';
import { policySchema } from './limits-policy.ts';
import { redisConfigSchema, storageConfigSchema } from '../protocol/farm-config.ts';

export const gatewayLimitsSchema = z
  .object({
    /** Largest JSON request body; the inline inputs of the fast path count (kiln cc sends up to 6 MiB of preprocessed source). @default 16 MiB */
    maxJsonBytes: z
      .number()
      .int()
      .min(1024)
      .default(16 << 20),
    /** Largest blob uploaded through the gateway (bigger ones go by presigned URL). @default 64 MiB */
    maxInlineBlobBytes: z
      .number()
      .int()
      .min(1024)
      .default(64 << 20),
    /** How long job creation waits for a free slot before 503. @default 5000 */
    placementWaitMs: z.number().int().min(0).max(120_000).default(5000),
    /** Attempts of a job whose builder was lost. @default 3 */
    maxAttempts: z.number().int().min(1).max(10).default(3),
    /** Longest `?wait=` of a long-poll, seconds. @default 60 */
    maxWaitSec: z.number().int().min(1).max(600).default(60),
    /** Period of the expired-lease sweep. @default 1000 */
    sweepMs: z.number().int().min(100).default(1000),
    /**
     * Longest a request may take to arrive whole (headers and body); a body shorter than its
     * Content-Length is cut off then. Long-polls and log follows are answers, not requests. @default 60000
     */
    requestTimeoutMs: z.number().int().min(1000).max(3_600_000).default(60_000),
    /** Longest an idle keep-alive connection stays open. @default 5000 */
    idleTimeoutMs: z.number().int().min(100).max(600_000).default(5000),
    /** Longest request target (path and query) in bytes; a longer one is 414 ERR_URL_TOO_LONG. @default 8192 */
    maxUrlBytes: z.number().int().min(256).max(65_536).default(8192),
    /** Open connections one client address may hold; more are refused. @default 256 */
    maxConnectionsPerClient: z.number().int().min(1).max(1_000_000).default(256),
    /** How long a finished job (state, log) stays readable, seconds. @default 86400 */
    finishedTtlSec: z.number().int().min(60).default(86_400),
  })
  .strict();

/** The gateway's TLS: its certificate, and the CA whose client certificates it asks for. */
export const listenTlsSchema = z.strictObject({
  /** PEM certificate chain of the gateway. */
  cert: z.string().min(1),
  /** PEM private key of the gateway. */
  key: z.string().min(1),
  /**
   * PEM CA bundle for client certificates: when set, every connection is asked for one, and a
   * `client_cert` auth method maps its subject to a principal (docs/identity.md).
   */
  clientCa: z.string().min(1).optional(),
  /**
   * PEM certificate revocation list(s) of the client CA: a revoked client certificate is refused
   * (401, `CERT_REVOKED`). Read again when the file changes, like the certificates.
   */
  crl: z.string().min(1).optional(),
  /** Oldest TLS version accepted. @default "TLSv1.3" */
  minVersion: z.enum(['TLSv1.3', 'TLSv1.2']).default('TLSv1.3'),
  /** How often the files are checked for a change (a renewed certificate), in ms. @default 2000 */
  reloadCheckMs: z.number().int().min(100).default(2000),
});
export type ListenTls = z.infer<typeof listenTlsSchema>;

export const gatewayConfigSchema = z
  .object({
    listen: z
      .object({
        /** @default "127.0.0.1" */
        host: z.string().default('127.0.0.1'),
        /** @default 8420 */
        port: z.number().int().min(0).max(65535).default(8420),
        /** HTTPS instead of HTTP (Node adapter); files are read again when they change. */
        tls: listenTlsSchema.optional(),
      })
      .strict()
      .default({ host: '127.0.0.1', port: 8420 }),
    redis: redisConfigSchema,
    storage: storageConfigSchema,
    auth: authConfigSchema,
    limits: gatewayLimitsSchema.default(gatewayLimitsSchema.parse({})),
    /** Action-cache scopes. */
    cache: cacheConfigSchema.default({ shared: [] }),
    /** The limits policy: farm-wide and per-tenant defaults and maxima (gateway/limits-policy.ts). */
    policy: policySchema.default(policySchema.parse({})),
  })
  .strict();
export type GatewayConfig = z.infer<typeof gatewayConfigSchema>;
export type GatewayLimits = z.infer<typeof gatewayLimitsSchema>;
