/** Per-job tokens: HS256 only, signed with the key of the builder the job is placed on. */
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { jwtVerify, decodeJwt, errors as joseErrors } from 'jose';
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

/** The protected header of every job token, encoded once. */
const HEADER = base64url(new TextEncoder().encode(JSON.stringify({ alg: 'HS256', typ: JOB_TOKEN_TYP })));

/**
 * Signs a job token with a builder's raw 32-byte key; `ttlSec` counts from now. Synchronous
 * (HMAC-SHA256 of @noble/hashes): on the job-creation path the asynchronous Web Crypto call
 * cost more in scheduling than the hash itself. Verified by jose ({@link verifyJobToken}).
 */
export function signJobToken(key: Uint8Array, claims: Omit<JobClaims, 'exp'>, ttlSec: number): string {
  const iat = Math.floor(Date.now() / 1000);
  const payload = {
    bid: claims.bid,
    tenant: claims.tenant,
    jti: claims.jti,
    sub: claims.sub,
    iat,
    exp: iat + ttlSec,
  };
  const input = `${HEADER}.${base64url(new TextEncoder().encode(JSON.stringify(payload)))}`;
  return `${input}.${base64url(hmac(sha256, key, new TextEncoder().encode(input)))}`;
}

/** Base64url without padding (RFC 7515), runtime-neutral. */
function base64url(bytes: Uint8Array): string {
  let bin = '';
  for (let i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]!);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
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
