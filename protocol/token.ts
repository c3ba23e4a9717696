/** Per-job tokens: HS256 only, signed with the key of the builder the job is placed on. */
import { SignJWT, jwtVerify, decodeJwt, errors as joseErrors } from 'jose';
import { KilnError } from './errors.ts';

/** The JWT `typ` header of a job token. */
export const JOB_TOKEN_TYP = 'kiln-job+jwt';

export interface JobClaims {
  /** Job id. */
  jti: string;
  /** Builder id. */
  bid: string;
  /** Subject of the client that created the job. */
  sub: string;
  /** Tenant of the client. */
  tenant: string;
  /** Expiry, seconds since the epoch. */
  exp: number;
}

/** Signs a job token with a builder's raw 32-byte key; `ttlSec` counts from now. */
export async function signJobToken(
  key: Uint8Array,
  claims: Omit<JobClaims, 'exp'>,
  ttlSec: number,
): Promise<string> {
  return new SignJWT({ bid: claims.bid, tenant: claims.tenant })
    .setProtectedHeader({ alg: 'HS256', typ: JOB_TOKEN_TYP })
    .setJti(claims.jti)
    .setSubject(claims.sub)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + ttlSec)
    .sign(key);
}

/**
 * Verifies a job token with `key`. Accepts only HS256 and the kiln `typ`, and requires the
 * claims to name `expect.jti` (and `expect.bid` when given). Throws ERR_TOKEN_INVALID otherwise.
 */
export async function verifyJobToken(
  token: string,
  key: Uint8Array,
  expect: { jti?: string; bid?: string } = {},
): Promise<JobClaims> {
  try {
    const { payload } = await jwtVerify(token, key, {
      algorithms: ['HS256'],
      typ: JOB_TOKEN_TYP,
      requiredClaims: ['jti', 'sub', 'exp'],
    });
    const claims = payload as unknown as JobClaims;
    if (typeof claims.bid !== 'string' || typeof claims.tenant !== 'string') {
      throw new KilnError('ERR_TOKEN_INVALID', 'job token lacks bid or tenant');
    }
    if (expect.jti !== undefined && claims.jti !== expect.jti) {
      throw new KilnError('ERR_TOKEN_INVALID', 'job token is for another job');
    }
    if (expect.bid !== undefined && claims.bid !== expect.bid) {
      throw new KilnError('ERR_TOKEN_INVALID', 'job token is for another builder');
    }
    return claims;
  } catch (err) {
    if (err instanceof KilnError) throw err;
    const why = err instanceof joseErrors.JOSEError ? err.code : 'malformed';
    throw new KilnError('ERR_TOKEN_INVALID', `job token rejected (${why})`, { cause: err });
  }
}

/** Reads the claims of a job token WITHOUT verifying it (to find which builder key verifies it). */
export function peekJobToken(token: string): Partial<JobClaims> | null {
  try {
    const p = decodeJwt(token);
    return p as Partial<JobClaims>;
  } catch {
    return null;
  }
}
