/**
 * Configuration of the `jwt` client auth method: which issuers, how their keys are found and
 * kept, and the rules a token's claims must meet. Every object is strict (a misspelt key is an
 * error), and every problem is reported at once with its path.
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

export const nonEmpty = z.string().min(1);
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

/** True for `https:` URLs, and `http:` ones on loopback (local identity providers and tests). */
export function isSafeUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === 'https:' || (url.protocol === 'http:' && LOOPBACK.has(url.hostname));
  } catch {
    return false;
  }
}

/** `https:` always; plain `http:` only on loopback. */
export const safeUrl = z.url().refine(isSafeUrl, 'must be an https: URL (http: only on localhost)');

/**
 * Where a value sits in a token (or a proxy answer): a claim name such as `tenant` or
 * `https://acme.example/tenant` (an exact top-level name wins), a dotted path such as
 * `realm_access.roles`, or the path as a list of names.
 */
export const claimPath = z.union([nonEmpty, z.array(nonEmpty).min(1)]);
export type ClaimPath = z.infer<typeof claimPath>;

/**
 * What a claim must hold: one value or pattern, or a list of which one must match. In a pattern
 * `*` stands for any run of characters other than `/` and `:` and `**` for any run at all; every
 * other character stands for itself. A claim that is an array matches when one element does.
 */
export const claimRule = z.union([nonEmpty, z.array(nonEmpty).min(1), z.number(), z.boolean()]);
export type ClaimRule = z.infer<typeof claimRule>;

/** How an accepted credential's claims become a principal (shared by `jwt` and `proxy_token`). */
export const principalMapping = {
  /** The tenant of every credential the method accepts; when set, `tenantClaim` is not read. */
  tenant: nonEmpty.optional(),
  /** The claim naming the tenant. @default 'tenant' */
  tenantClaim: claimPath.default('tenant'),
  /** Tenant used when `tenantClaim` is absent; without it such credentials are rejected. */
  tenantDefault: nonEmpty.optional(),
  /** The claim naming the subject. @default 'sub' */
  subjectClaim: claimPath.default('sub'),
  /** The claim that marks an admin, e.g. 'kiln_admin' or 'realm_access.roles'. */
  adminClaim: claimPath.optional(),
  /** Value of `adminClaim` (or an element of it, when it is an array) that marks an admin. @default true */
  adminValue: z.union([z.string(), z.number(), z.boolean()]).default(true),
};

/** Verifies client JWTs against the public keys of an identity provider. */
export const jwtMethodSchema = z
  .strictObject({
    type: z.literal('jwt'),
    /**
     * Accepted `iss` value(s). A token whose (unverified) `iss` is not one of them is left to
     * the next method, so several `jwt` methods (a company IdP, GitHub Actions) work side by side.
     */
    issuer: oneOrMany,
    /**
     * URL of the provider's JSON Web Key Set. Without it, it is discovered from the issuer's
     * `/.well-known/openid-configuration` (`jwks_uri`), which needs a single issuer.
     */
    jwksUrl: safeUrl.optional(),
    /** Accepted `aud` value(s): the token must name at least one. */
    audience: oneOrMany,
    /** @default ['RS256', 'ES256', 'EdDSA'] */
    algorithms: z.array(algorithm).min(1).default(['RS256', 'ES256', 'EdDSA']),
    /** Required header `typ`, e.g. 'at+jwt' for RFC 9068 access tokens. @default any */
    typ: nonEmpty.optional(),
    /** Claims that must be present, in addition to `exp`, which is always required. @default [] */
    requiredClaims: z.array(nonEmpty).default([]),
    /**
     * Claim values the token must hold, by claim path: `{ repository_owner = "acme",
     * ref = ["refs/heads/main", "refs/tags/v*"] }`. Every rule must match. @default {}
     */
    claims: z.record(nonEmpty, claimRule).default({}),
    /** Scopes the token must grant, all of them (`scope`, space-separated, or `scp`). @default [] */
    scopes: z.array(nonEmpty).default([]),
    /** Accepted clients: the token's `azp` (or, without it, `client_id`) must be one of them. */
    authorizedParties: z.array(nonEmpty).min(1).optional(),
    /** Leeway for `exp`, `nbf` and `iat`, in seconds. @default 30 */
    clockToleranceSec: z.number().int().min(0).max(300).default(30),
    ...principalMapping,
    /** How long fetched keys are used before they are fetched again, in seconds. @default 600 */
    cacheMaxAgeSec: z.number().min(0).default(600),
    /**
     * Shortest time between two JWKS fetches, in seconds: the rate limit against tokens with
     * made-up key ids. A token that may be newer than the keys and is refused by them is
     * answered 503 with Retry-After while the cooldown runs, never 401. @default 1
     */
    cooldownSec: z.number().min(0).max(300).default(1),
    /**
     * How long past `cacheMaxAgeSec` the keys are still used while the provider cannot be
     * reached (an IdP outage), in seconds, like HTTP's stale-if-error. @default 21600 (6 hours)
     */
    staleIfErrorSec: z.number().min(0).default(21_600),
    /** Timeout of one discovery or JWKS fetch, in milliseconds. @default 5000 */
    fetchTimeoutMs: z.number().int().min(100).max(60_000).default(5000),
    /**
     * How long a request waits for keys being fetched before it is answered 503 with
     * Retry-After, in milliseconds. @default 2000
     */
    fetchWaitMs: z.number().int().min(0).max(60_000).default(2000),
  })
  .superRefine((m, ctx) => {
    const issuers = typeof m.issuer === 'string' ? [m.issuer] : m.issuer;
    if (m.jwksUrl === undefined) {
      if (issuers.length !== 1) {
        ctx.addIssue({
          code: 'custom',
          path: ['jwksUrl'],
          message: 'give jwksUrl, or a single issuer to discover it from',
        });
      } else if (!isSafeUrl(issuers[0]!)) {
        ctx.addIssue({
          code: 'custom',
          path: ['issuer'],
          message: 'discovery needs an https: issuer URL (http: only on localhost); or give jwksUrl',
        });
      }
    }
  });

/** Validated `jwt` method config, defaults applied. */
export type JwtMethodConfig = z.output<typeof jwtMethodSchema>;
