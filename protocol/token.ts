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
 * cost more in scheduling than the hash itself. Verified by {@link verifyJobToken}.
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

/** Equality of two byte strings without an early exit. */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < a.length; i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return diff === 0;
}

function fromBase64url(text: string): Uint8Array | null {
  if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) return null;
  const bin = atob(text.replace(/-/g, '+').replace(/_/g, '/'));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/**
 * The payload of a token exactly as {@link signJobToken} makes them (its header, HS256, a valid
 * MAC, `jti`/`sub`/`exp` present, not expired, no `nbf`), checked synchronously; null for
 * anything else, which jose then judges (and names the reason of a refusal). Every token this
 * accepts, jose accepts too: it only skips Web Crypto's asynchronous key import and HMAC.
 */
function quickVerify(token: string, key: Uint8Array): Record<string, unknown> | null {
  const parts = token.split('.');
  if (parts.length !== 3 || parts[0] !== HEADER) return null;
  const mac = fromBase64url(parts[2]!);
  const expected = hmac(sha256, key, new TextEncoder().encode(`${parts[0]}.${parts[1]}`));
  if (!mac || !sameBytes(mac, expected)) return null;
  let p: Record<string, unknown>;
  try {
    const raw = fromBase64url(parts[1]!);
    p = raw
      ? (JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(raw)) as Record<string, unknown>)
      : {};
  } catch {
    return null;
  }
  if (p === null || typeof p !== 'object' || Array.isArray(p)) return null;
  const now = Math.floor(Date.now() / 1000);
  if (typeof p.jti !== 'string' || typeof p.sub !== 'string') return null;
  if (typeof p.exp !== 'number' || !(p.exp > now)) return null;
  if ('nbf' in p || ('iat' in p && typeof p.iat !== 'number')) return null;
  return p;
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
    const payload =
      quickVerify(token, key) ??
      (
        await jwtVerify(token, key, {
          algorithms: ['HS256'],
          typ: JOB_TOKEN_TYP,
          requiredClaims: ['jti', 'sub', 'exp'],
        })
      ).payload;
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
