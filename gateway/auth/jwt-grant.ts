/** What a verified token must also grant: an `iat` not in the future, the scopes, an accepted client. */
import type { JWTPayload } from 'jose';
import type { JwtMethodConfig } from './jwt-config.ts';

type GrantRules = Pick<JwtMethodConfig, 'clockToleranceSec' | 'scopes' | 'authorizedParties'>;

/** The first reason `payload` is refused, or null. `nowMs` is the verifying clock. */
export function checkGrant(payload: JWTPayload, rules: GrantRules, nowMs: number): string | null {
  const iat = payload.iat;
  if (typeof iat === 'number' && iat > nowMs / 1000 + rules.clockToleranceSec) {
    return `"iat" is in the future (beyond the ${rules.clockToleranceSec} s clock tolerance)`;
  }
  if (rules.scopes.length > 0) {
    const granted = scopesOf(payload);
    const missing = rules.scopes.filter((s) => !granted.has(s));
    if (missing.length > 0) return `scope ${missing.map((s) => JSON.stringify(s)).join(', ')} not granted`;
  }
  if (rules.authorizedParties !== undefined) {
    const party = payload.azp ?? payload.client_id;
    if (typeof party !== 'string' || !rules.authorizedParties.includes(party)) {
      return `client ("azp" or "client_id") is not one the gateway accepts`;
    }
  }
  return null;
}

/** Scopes granted by `scope` (space-separated) and `scp` (a list, or space-separated). */
function scopesOf(payload: JWTPayload): Set<string> {
  const out = new Set<string>();
  for (const claim of [payload.scope, payload.scp]) {
    const list = typeof claim === 'string' ? claim.split(' ') : Array.isArray(claim) ? claim : [];
    for (const s of list) if (typeof s === 'string' && s !== '') out.add(s);
  }
  return out;
}
