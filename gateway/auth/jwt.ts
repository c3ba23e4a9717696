/** The `jwt` client auth method: JWTs verified with the public keys of a remote JWKS. */
import { createRemoteJWKSet, decodeProtectedHeader, errors, jwtVerify } from 'jose';
import type { JWTPayload, JWTVerifyOptions, ProtectedHeaderParameters } from 'jose';
import { KilnError } from '../../protocol/errors.ts';
import { JOB_TOKEN_TYP } from '../../protocol/token.ts';
import type { JwtMethodConfig } from './config.ts';
import type { AuthMethod, Principal } from './principal.ts';

const SEGMENT = /^[A-Za-z0-9_-]*$/;

/**
 * Builds a `jwt` method. The remote JWKS is created here, once, and fetched lazily: jose caches
 * it (`cacheMaxAgeSec`) and fetches it again when a token names an unknown `kid` (rotation),
 * at most once per `cooldownSec`.
 */
export function createJwtMethod(config: JwtMethodConfig): AuthMethod {
  const jwks = createRemoteJWKSet(new URL(config.jwksUrl), {
    cacheMaxAge: toMs(config.cacheMaxAgeSec),
    cooldownDuration: toMs(config.cooldownSec),
  });
  const options: JWTVerifyOptions = {
    algorithms: config.algorithms,
    issuer: config.issuer,
    audience: config.audience,
    clockTolerance: config.clockToleranceSec,
    requiredClaims: [...new Set(['exp', ...config.requiredClaims])],
  };
  return {
    type: 'jwt',
    async authenticate(bearer) {
      const header = jwtHeader(bearer);
      if (header === null) return null;
      if (isJobTokenTyp(header.typ)) throw unauthenticated('kiln job tokens are not client credentials');
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(bearer, jwks, options));
      } catch (err) {
        throw rejection(err, header);
      }
      return principalOf(payload, config);
    },
  };
}

/** The protected header when `bearer` has the shape of a compact JWS, else null. */
function jwtHeader(bearer: string): ProtectedHeaderParameters | null {
  const parts = bearer.split('.');
  if (parts.length !== 3 || !parts.every((p) => SEGMENT.test(p)) || !parts[0] || !parts[1]) return null;
  try {
    const header = decodeProtectedHeader(bearer);
    return typeof header.alg === 'string' ? header : null;
  } catch {
    return null;
  }
}

/** `typ` compares case-insensitively and may omit the `application/` prefix (RFC 7515 §4.1.9). */
function isJobTokenTyp(typ: string | undefined): boolean {
  if (typ === undefined) return false;
  return typ.toLowerCase().replace(/^application\//, '') === JOB_TOKEN_TYP.toLowerCase();
}

function principalOf(payload: JWTPayload, config: JwtMethodConfig): Principal {
  const sub = payload[config.subjectClaim];
  if (typeof sub !== 'string' || sub === '') {
    throw unauthenticated(`claim "${config.subjectClaim}" is missing or not a string`);
  }
  const claimed = payload[config.tenantClaim];
  let tenant: string;
  if (claimed === undefined && config.tenantDefault !== undefined) tenant = config.tenantDefault;
  else if (typeof claimed === 'string' && claimed !== '') tenant = claimed;
  else throw unauthenticated(`claim "${config.tenantClaim}" is missing or not a string`);
  let admin = false;
  if (config.adminClaim !== undefined) {
    const v = payload[config.adminClaim];
    admin = v === config.adminValue || (Array.isArray(v) && v.includes(config.adminValue));
  }
  return { sub, tenant, method: 'jwt', admin };
}

/** A precise, secret-free reason for a failed verification (ERR_UNAVAILABLE if the JWKS is). */
function rejection(err: unknown, header: ProtectedHeaderParameters): KilnError {
  if (!(err instanceof errors.JOSEError)) return jwksUnavailable(err);
  switch (err.code) {
    case errors.JWTExpired.code:
      return unauthenticated('token expired', err);
    case errors.JWTClaimValidationFailed.code:
      return unauthenticated(err.message, err);
    case errors.JOSEAlgNotAllowed.code:
      return unauthenticated(`algorithm ${JSON.stringify(header.alg).slice(0, 40)} is not allowed`, err);
    case errors.JWKSNoMatchingKey.code:
      return unauthenticated('no key in the JWKS matches the token (unknown kid or key type)', err);
    case errors.JWKSMultipleMatchingKeys.code:
      return unauthenticated('several JWKS keys match the token: it must name its kid', err);
    case errors.JWSSignatureVerificationFailed.code:
      return unauthenticated('signature verification failed', err);
    case errors.JWSInvalid.code:
    case errors.JWTInvalid.code:
    case errors.JOSENotSupported.code:
      return unauthenticated(`malformed token: ${err.message}`, err);
    default:
      return jwksUnavailable(err);
  }
}

function unauthenticated(reason: string, cause?: unknown): KilnError {
  return new KilnError('ERR_UNAUTHENTICATED', `jwt rejected: ${reason}`, { cause });
}

function jwksUnavailable(cause: unknown): KilnError {
  const why = cause instanceof Error ? cause.message : String(cause);
  return new KilnError('ERR_UNAVAILABLE', `identity provider JWKS unavailable: ${why}`, { cause });
}

function toMs(sec: number | undefined): number | undefined {
  return sec === undefined ? undefined : Math.round(sec * 1000);
}
