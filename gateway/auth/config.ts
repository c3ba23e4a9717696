/**
 * Client auth configuration: an ORDERED list of methods, validated once when the gateway is
 * built. Every object is strict, so a misspelt key is an error rather than a silent default.
 */
import { z } from 'zod';
import { jwtMethodSchema, nonEmpty, principalMapping, safeUrl } from './jwt-config.ts';

export { JWT_ALGORITHMS, jwtMethodSchema } from './jwt-config.ts';
export type { JwtMethodConfig } from './jwt-config.ts';

/** A configured static token: plaintext (`token`) or its SHA-256 (`sha256`), not both. */
const tokenEntrySchema = z
  .strictObject({
    /** The token itself (at least 16 characters). */
    token: z.string().min(16).optional(),
    /** Hex SHA-256 of the UTF-8 token, so the config holds no secret. */
    sha256: z
      .string()
      .regex(/^[0-9a-fA-F]{64}$/, 'must be 64 hex digits')
      .transform((h) => h.toLowerCase())
      .optional(),
    sub: nonEmpty,
    tenant: nonEmpty,
    /** @default false */
    admin: z.boolean().default(false),
  })
  .refine((t) => (t.token === undefined) !== (t.sha256 === undefined), {
    message: 'give exactly one of "token" and "sha256"',
  });

/** Static bearer tokens, compared in constant time. */
export const tokenMethodSchema = z.strictObject({
  type: z.literal('token'),
  tokens: z
    .array(tokenEntrySchema)
    .min(1)
    .superRefine((tokens, ctx) => {
      const seen = new Set<string>();
      tokens.forEach((t, i) => {
        const key = t.token !== undefined ? `t:${t.token}` : `h:${t.sha256}`;
        if (seen.has(key)) ctx.addIssue({ code: 'custom', path: [i], message: 'duplicate token' });
        seen.add(key);
      });
    }),
});

/**
 * Forwards the bearer to a URL (`Authorization: Bearer …`, GET) that answers 2xx with a JSON
 * object naming the subject (and tenant) for a good credential, 401/403 for a bad one; positive
 * answers are cached. sccache-dist's `proxy_token`.
 */
export const proxyTokenMethodSchema = z.strictObject({
  type: z.literal('proxy_token'),
  /** Where the bearer is checked (https, or http on loopback). */
  url: safeUrl,
  /** How long a positive answer is kept, in seconds (0: ask every time). @default 60 */
  cacheSec: z.number().min(0).max(86_400).default(60),
  /** Most answers kept at once (the oldest is dropped first). @default 10000 */
  maxCacheEntries: z.number().int().min(1).default(10_000),
  /** Timeout of one check, in milliseconds. @default 5000 */
  timeoutMs: z.number().int().min(100).max(60_000).default(5000),
  ...principalMapping,
});

/**
 * TLS client certificates verified by the gateway (`listen.tls.clientCa`): the subject names the
 * principal. Tried in its place in the method order, like the bearer methods.
 */
export const clientCertMethodSchema = z.strictObject({
  type: z.literal('client_cert'),
  /** Subject attribute naming the subject. @default "CN" */
  subjectAttribute: nonEmpty.default('CN'),
  /** Subject attribute naming the tenant. @default "O" */
  tenantAttribute: nonEmpty.default('O'),
  /** Tenant when the subject has no `tenantAttribute`. */
  tenantDefault: nonEmpty.optional(),
  /** The tenant of every certificate (instead of `tenantAttribute`). */
  tenant: nonEmpty.optional(),
  /** An OU value that marks an admin, e.g. "kiln-admins". */
  adminOU: nonEmpty.optional(),
});

/** DEVELOPMENT ONLY: accepts every request, with or without a credential, as one principal. */
export const insecureMethodSchema = z.strictObject({
  type: z.literal('insecure'),
  /** @default 'dev' */
  sub: nonEmpty.default('dev'),
  /** @default 'dev' */
  tenant: nonEmpty.default('dev'),
  /** A one-machine dev farm is administered by its only user. @default true */
  admin: z.boolean().default(true),
});

/** One client auth method, chosen by `type`. */
export const authMethodSchema = z.discriminatedUnion('type', [
  jwtMethodSchema,
  tokenMethodSchema,
  proxyTokenMethodSchema,
  clientCertMethodSchema,
  insecureMethodSchema,
]);

/** The gateway's client auth: methods tried in order, at least one. */
export const authConfigSchema = z.strictObject({
  methods: z.array(authMethodSchema).min(1, 'configure at least one auth method'),
  /**
   * Longest bearer credential accepted, in bytes; a longer one is refused with 431
   * `ERR_CREDENTIAL_TOO_LARGE` before any method sees it. @default 8192
   */
  maxTokenBytes: z.number().int().min(256).max(65_536).default(8192),
});

/** Auth config as written (defaults may be omitted). */
export type AuthConfig = z.input<typeof authConfigSchema>;
/** One method as written. */
export type AuthMethodConfig = z.input<typeof authMethodSchema>;
/** Validated `token` method config, defaults applied. */
export type TokenMethodConfig = z.output<typeof tokenMethodSchema>;
/** Validated `proxy_token` method config, defaults applied. */
export type ProxyTokenMethodConfig = z.output<typeof proxyTokenMethodSchema>;
/** Validated `client_cert` method config, defaults applied. */
export type ClientCertMethodConfig = z.output<typeof clientCertMethodSchema>;
/** Validated `insecure` method config, defaults applied. */
export type InsecureMethodConfig = z.output<typeof insecureMethodSchema>;
