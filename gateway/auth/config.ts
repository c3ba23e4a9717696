/**
 * Client auth configuration: an ORDERED list of methods, validated once when the gateway is
 * built. Every object is strict, so a misspelt key is an error rather than a silent default.
 */
import { z } from 'zod';

/** Asymmetric JWS algorithms a `jwt` method may allow (verified with public keys from a JWKS). */
export const JWT_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
] as const;

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

const nonEmpty = z.string().min(1);
const oneOrMany = z.union([nonEmpty, z.array(nonEmpty).min(1)]);

/** A JWS algorithm allowed for client JWTs: never `none`, never HMAC (key-confusion attack). */
const algorithm = z.string().superRefine((alg, ctx) => {
  if (alg.toLowerCase() === 'none') {
    ctx.addIssue({ code: 'custom', message: '"none" is never allowed: unsigned tokens prove nothing' });
  } else if (/^HS/i.test(alg)) {
    ctx.addIssue({
      code: 'custom',
      message: `${alg} is not allowed: HMAC verified with a public JWKS key is the key-confusion attack`,
    });
  } else if (!(JWT_ALGORITHMS as readonly string[]).includes(alg)) {
    ctx.addIssue({
      code: 'custom',
      message: `unsupported algorithm ${alg} (use one of ${JWT_ALGORITHMS.join(', ')})`,
    });
  }
});

/** `https:` always; plain `http:` only on loopback (local identity providers and tests). */
const jwksUrl = z.url().superRefine((value, ctx) => {
  const url = new URL(value);
  if (url.protocol === 'https:' || (url.protocol === 'http:' && LOOPBACK.has(url.hostname))) return;
  ctx.addIssue({ code: 'custom', message: 'must be an https: URL (http: only on localhost)' });
});

/** Verifies client JWTs against the public keys of an identity provider's JWKS. */
export const jwtMethodSchema = z.strictObject({
  type: z.literal('jwt'),
  /** URL of the provider's JSON Web Key Set; fetched lazily and re-fetched on rotation. */
  jwksUrl,
  /** Accepted `iss` value(s). */
  issuer: oneOrMany,
  /** Accepted `aud` value(s): the token must name at least one. */
  audience: oneOrMany,
  /** @default ['RS256', 'ES256', 'EdDSA'] */
  algorithms: z.array(algorithm).min(1).default(['RS256', 'ES256', 'EdDSA']),
  /** Claims that must be present, in addition to `exp`, which is always required. @default [] */
  requiredClaims: z.array(nonEmpty).default([]),
  /** Leeway for `exp`, `nbf` and `iat`, in seconds. @default 30 */
  clockToleranceSec: z.number().int().min(0).max(300).default(30),
  /** Top-level claim naming the tenant. @default 'tenant' */
  tenantClaim: nonEmpty.default('tenant'),
  /** Tenant used when `tenantClaim` is absent; without it such tokens are rejected. */
  tenantDefault: nonEmpty.optional(),
  /** Top-level claim naming the subject. @default 'sub' */
  subjectClaim: nonEmpty.default('sub'),
  /** Claim that marks an admin, e.g. 'kiln_admin' (or a roles array holding `adminValue`). */
  adminClaim: nonEmpty.optional(),
  /** Value of `adminClaim` (or an element of it, when it is an array) that marks an admin. @default true */
  adminValue: z.union([z.string(), z.number(), z.boolean()]).default(true),
  /** Longest time the fetched JWKS is used before it is fetched again, in seconds. @default 600 */
  cacheMaxAgeSec: z.number().min(0).optional(),
  /**
   * Shortest time between two fetches caused by an unknown `kid` (rate limit against
   * tokens with made-up key ids), in seconds. @default 30
   */
  cooldownSec: z.number().min(0).optional(),
});

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
  insecureMethodSchema,
]);

/** The gateway's client auth: methods tried in order, at least one. */
export const authConfigSchema = z.strictObject({
  methods: z.array(authMethodSchema).min(1, 'configure at least one auth method'),
});

/** Auth config as written (defaults may be omitted). */
export type AuthConfig = z.input<typeof authConfigSchema>;
/** One method as written. */
export type AuthMethodConfig = z.input<typeof authMethodSchema>;
/** Validated `jwt` method config, defaults applied. */
export type JwtMethodConfig = z.output<typeof jwtMethodSchema>;
/** Validated `token` method config, defaults applied. */
export type TokenMethodConfig = z.output<typeof tokenMethodSchema>;
/** Validated `insecure` method config, defaults applied. */
export type InsecureMethodConfig = z.output<typeof insecureMethodSchema>;
