/**
 * The `proxy_token` client auth method (as sccache-dist has it): the bearer is forwarded to a
 * URL that says whether it is good; positive answers are kept for `cacheSec`, by the token's
 * SHA-256 (the token itself is never kept).
 */
import { KilnError } from '../../protocol/errors.ts';
import { principalOf } from './claims.ts';
import type { ProxyTokenMethodConfig } from './config.ts';
import { fetchJsonObject, type AuthEnv } from './fetch-json.ts';
import type { AuthMethod, Principal } from './principal.ts';
import { sha256 } from './token.ts';

const WHO = 'proxy_token rejected';

/** Builds a `proxy_token` method. 401/403 from the URL pass the credential on to the next method. */
export function createProxyTokenMethod(config: ProxyTokenMethodConfig, env: AuthEnv): AuthMethod {
  /** Positive answers by hex digest, oldest first (Map keeps insertion order). */
  const cache = new Map<string, { principal: Principal; until: number }>();
  /** Checks in flight, so concurrent requests with one token ask once. */
  const pending = new Map<string, Promise<Principal | null>>();

  async function ask(bearer: string): Promise<Principal | null> {
    let answer: Awaited<ReturnType<typeof fetchJsonObject>>;
    try {
      answer = await fetchJsonObject(env, config.url, AbortSignal.timeout(config.timeoutMs), {
        authorization: `Bearer ${bearer}`,
      });
    } catch (err) {
      throw new KilnError('ERR_UNAVAILABLE', `token proxy unavailable: ${(err as Error).message}`, {
        cause: err,
        retryAfter: 1,
      });
    }
    if (answer.status === 401 || answer.status === 403) return null;
    if (answer.status < 200 || answer.status > 299) {
      throw new KilnError('ERR_UNAVAILABLE', `token proxy answered HTTP ${answer.status}`, { retryAfter: 1 });
    }
    if (answer.body === null) {
      throw new KilnError('ERR_UNAVAILABLE', 'token proxy answered without a JSON object', { retryAfter: 1 });
    }
    return principalOf(answer.body, config, 'proxy_token', WHO);
  }

  return {
    type: 'proxy_token',
    async authenticate(bearer) {
      if (bearer === '') return null;
      const key = hex(sha256(bearer));
      const hit = cache.get(key);
      if (hit !== undefined && hit.until > env.now()) return { ...hit.principal };
      cache.delete(key);
      let check = pending.get(key);
      if (check === undefined) {
        check = ask(bearer).finally(() => pending.delete(key));
        pending.set(key, check);
      }
      const principal = await check;
      if (principal !== null && config.cacheSec > 0) {
        cache.set(key, { principal, until: env.now() + config.cacheSec * 1000 });
        while (cache.size > config.maxCacheEntries) cache.delete(cache.keys().next().value!);
      }
      return principal === null ? null : { ...principal };
    },
  };
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}
