/** The unverified header and payload of a compact JWS, read only to route it and to refuse junk early. */
import { decodeJwt, decodeProtectedHeader } from 'jose';
import type { JWTPayload, ProtectedHeaderParameters } from 'jose';
import { JOB_TOKEN_TYP } from '../../protocol/token.ts';

const SEGMENT = /^[A-Za-z0-9_-]*$/;

/** An unverified JWT: nothing in it is trusted until its signature is checked. */
export interface PeekedJwt {
  header: ProtectedHeaderParameters;
  payload: JWTPayload;
}

/** Header and payload when `bearer` has the shape of a compact JWS with a JSON payload, else null. */
export function peekJwt(bearer: string): PeekedJwt | null {
  const parts = bearer.split('.');
  if (parts.length !== 3 || !parts.every((p) => SEGMENT.test(p)) || !parts[0] || !parts[1]) return null;
  try {
    const header = decodeProtectedHeader(bearer);
    if (typeof header.alg !== 'string') return null;
    return { header, payload: decodeJwt(bearer) };
  } catch {
    return null;
  }
}

/** What is wrong with a header's members whose type the JWS spec fixes, or null. */
export function headerProblem(header: ProtectedHeaderParameters): string | null {
  for (const name of ['typ', 'kid', 'cty'] as const) {
    const value: unknown = header[name];
    if (value !== undefined && typeof value !== 'string') return `header "${name}" must be a string`;
  }
  return null;
}

/** `typ` compares case-insensitively and may omit the `application/` prefix (RFC 7515 §4.1.9). */
export function isJobTokenTyp(typ: unknown): boolean {
  if (typeof typ !== 'string') return false;
  return typ.toLowerCase().replace(/^application\//, '') === JOB_TOKEN_TYP.toLowerCase();
}
