/** The `token` client auth method: static bearer tokens, compared by SHA-256 in constant time. */
import { sha256 as sha256Bytes } from '@noble/hashes/sha2.js';
import type { TokenMethodConfig } from './config.ts';
import type { AuthMethod, Principal } from './principal.ts';

interface Entry {
  digest: Uint8Array;
  principal: Principal;
}

/**
 * Builds a `token` method. Only SHA-256 digests are kept and compared: the presented token's
 * digest is compared with EVERY configured one, each over all 32 bytes, so the time taken does
 * not depend on which entry (or how many leading bytes) matched. Unknown tokens give null.
 */
export function createTokenMethod(config: TokenMethodConfig): AuthMethod {
  const entries: Entry[] = config.tokens.map((t) => ({
    digest: t.sha256 !== undefined ? fromHex(t.sha256) : sha256(t.token ?? ''),
    principal: { sub: t.sub, tenant: t.tenant, method: 'token', admin: t.admin },
  }));
  return {
    type: 'token',
    authenticate(bearer) {
      if (bearer === '') return Promise.resolve(null);
      const presented = sha256(bearer);
      let found: Principal | null = null;
      for (const entry of entries) {
        const same = equalBytes(presented, entry.digest);
        if (same && found === null) found = entry.principal;
      }
      return Promise.resolve(found === null ? null : { ...found });
    },
  };
}

/**
 * SHA-256 of the UTF-8 encoding of `text`. Synchronous (@noble/hashes): on every request the
 * asynchronous Web Crypto digest cost more in scheduling than the hash itself.
 */
export function sha256(text: string): Uint8Array {
  return sha256Bytes(new TextEncoder().encode(text));
}

/** Equality without an early exit: every byte is visited whatever differs. */
function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < a.length; i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return diff === 0;
}

function fromHex(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}
