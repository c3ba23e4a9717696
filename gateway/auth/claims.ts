/**
 * Claims of a verified credential: values found by claim path, rules matched against them, and
 * the principal they name. Shared by the `jwt` and `proxy_token` methods.
 */
import { KilnError } from '../../protocol/errors.ts';
import type { ClaimPath, ClaimRule } from './jwt-config.ts';
import type { Principal } from './principal.ts';

type Claims = Record<string, unknown>;

/** The value at `path` (an exact top-level name wins over a dotted path), or undefined. */
export function claimAt(claims: Claims, path: ClaimPath): unknown {
  if (typeof path === 'string') {
    if (Object.hasOwn(claims, path)) return claims[path];
    if (!path.includes('.')) return undefined;
  }
  const names = typeof path === 'string' ? path.split('.') : path;
  let at: unknown = claims;
  for (const name of names) {
    if (typeof at !== 'object' || at === null || Array.isArray(at) || !Object.hasOwn(at, name)) {
      return undefined;
    }
    at = (at as Claims)[name];
  }
  return at;
}

/** `repo:acme/*:ref:**` as a RegExp: `*` = a run without `/` or `:`, `**` = any run. */
export function patternRegExp(pattern: string): RegExp {
  const parts = pattern.split(/(\*\*|\*)/).map((part) => {
    if (part === '**') return '[^]*';
    if (part === '*') return '[^/:]*';
    return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  });
  return new RegExp(`^${parts.join('')}$`, 'u');
}

/** A compiled rule: true when the claim value meets it. */
export type ClaimTest = (value: unknown) => boolean;

/** Compiles a rule once (at start), so a request only runs regexps. */
export function compileRule(rule: ClaimRule): ClaimTest {
  if (typeof rule === 'number' || typeof rule === 'boolean') {
    return (v) => v === rule || (Array.isArray(v) && v.includes(rule));
  }
  const patterns = (typeof rule === 'string' ? [rule] : rule).map(patternRegExp);
  const one = (v: unknown): boolean => typeof v === 'string' && patterns.some((p) => p.test(v));
  return (v) => (Array.isArray(v) ? v.some(one) : one(v));
}

/** Compiled rules by claim path; `check` names the first rule a token breaks. */
export function compileRules(rules: Record<string, ClaimRule>): (claims: Claims) => string | null {
  const tests = Object.entries(rules).map(([path, rule]) => ({ path, test: compileRule(rule) }));
  return (claims) => {
    for (const { path, test } of tests) {
      const value = claimAt(claims, path);
      if (value === undefined) return `claim "${path}" is required by the gateway's rules`;
      if (!test(value)) return `claim "${path}" does not match the gateway's rules`;
    }
    return null;
  };
}

/** How claims name a principal. */
export interface PrincipalMapping {
  subjectClaim: ClaimPath;
  tenant?: string | undefined;
  tenantClaim: ClaimPath;
  tenantDefault?: string | undefined;
  adminClaim?: ClaimPath | undefined;
  adminValue: string | number | boolean;
}

/** The principal named by `claims`; throws ERR_UNAUTHENTICATED (prefixed by `who`) when it cannot. */
export function principalOf(
  claims: Claims,
  mapping: PrincipalMapping,
  method: Principal['method'],
  who: string,
): Principal {
  const name = (p: ClaimPath): string => (typeof p === 'string' ? p : p.join('.'));
  const sub = claimAt(claims, mapping.subjectClaim);
  if (typeof sub !== 'string' || sub === '') {
    throw unauthenticated(who, `claim "${name(mapping.subjectClaim)}" is missing or not a string`);
  }
  const claimed = mapping.tenant ?? claimAt(claims, mapping.tenantClaim);
  let tenant: string;
  if (claimed === undefined && mapping.tenantDefault !== undefined) tenant = mapping.tenantDefault;
  else if (typeof claimed === 'string' && claimed !== '') tenant = claimed;
  else throw unauthenticated(who, `claim "${name(mapping.tenantClaim)}" is missing or not a string`);
  let admin = false;
  if (mapping.adminClaim !== undefined) {
    const v = claimAt(claims, mapping.adminClaim);
    admin = v === mapping.adminValue || (Array.isArray(v) && v.includes(mapping.adminValue));
  }
  return { sub, tenant, method, admin };
}

/** ERR_UNAUTHENTICATED with the method's prefix (`jwt rejected: …`). */
export function unauthenticated(who: string, reason: string, cause?: unknown): KilnError {
  return new KilnError('ERR_UNAUTHENTICATED', `${who}: ${reason}`, { cause });
}
