/**
 * An identity provider's signing keys, fetched lazily and kept for a while:
 * - fresh for `maxAgeMs`; then used while being fetched again in the background, and for up to
 *   `staleIfErrorMs` more while the provider cannot be reached (an outage keeps tokens working);
 * - `refresh` fetches again at once for a token the keys refuse but that may be newer than them
 *   (rotation, a re-used `kid` with new key material), at most once per `cooldownMs`;
 * - a request never waits more than `waitMs` for a fetch: it gets 503 with Retry-After.
 */
import { createLocalJWKSet } from 'jose';
import type { JSONWebKeySet, JWTVerifyGetKey } from 'jose';
import { KilnError } from '../../protocol/errors.ts';
import { fetchJsonObject, type AuthEnv } from './fetch-json.ts';

export interface KeySetOptions {
  /** Resolves the JWKS URL (configured, or discovered) inside each fetch. */
  jwksUrl(signal: AbortSignal): Promise<string>;
  maxAgeMs: number;
  staleIfErrorMs: number;
  cooldownMs: number;
  fetchTimeoutMs: number;
  waitMs: number;
}

/** One fetched key set. */
export interface Keys {
  /** The key resolver for jose's `jwtVerify`. */
  getKey: JWTVerifyGetKey;
  /** When it was fetched (env.now()). */
  fetchedAt: number;
}

export interface KeySet {
  /** Keys to verify with now; 503 (ERR_UNAVAILABLE, Retry-After) when there are none to use. */
  current(): Promise<Keys>;
  /** Keys fetched after `seen`: fetched now unless the cooldown runs (then 503 + Retry-After). */
  refresh(seen: Keys): Promise<Keys>;
}

export function createKeySet(o: KeySetOptions, env: AuthEnv): KeySet {
  let keys: Keys | null = null;
  let lastAttempt = -Infinity;
  let lastError = '';
  let inflight: Promise<Keys> | null = null;

  const retryAfterSec = (): number => Math.max(1, Math.ceil((lastAttempt + o.cooldownMs - env.now()) / 1000));
  const coolingDown = (): boolean => env.now() - lastAttempt < o.cooldownMs;

  async function load(): Promise<Keys> {
    const signal = AbortSignal.timeout(o.fetchTimeoutMs);
    const url = await o.jwksUrl(signal);
    const { status, body } = await fetchJsonObject(env, url, signal, {
      accept: 'application/jwk-set+json, application/json',
    });
    if (status !== 200) throw new Error(`JWKS ${url} answered HTTP ${status}`);
    if (body === null || !Array.isArray(body.keys)) throw new Error(`JWKS ${url} is not a key set`);
    return { getKey: createLocalJWKSet(body as unknown as JSONWebKeySet), fetchedAt: env.now() };
  }

  function start(): Promise<Keys> {
    if (inflight !== null) return inflight;
    lastAttempt = env.now();
    const p = load().then(
      (k) => {
        keys = k;
        lastError = '';
        return k;
      },
      (err: unknown) => {
        lastError = err instanceof Error ? err.message : String(err);
        throw err;
      },
    );
    inflight = p;
    void p
      .finally(() => {
        if (inflight === p) inflight = null;
      })
      .catch(() => {});
    return p;
  }

  /** `p`, or 503 once `waitMs` passes or when it fails. */
  async function waitFor(p: Promise<Keys>): Promise<Keys> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), o.waitMs);
    });
    try {
      const r = await Promise.race([p, timeout]);
      if (r === 'timeout') {
        throw new KilnError('ERR_UNAVAILABLE', 'identity provider keys are being fetched: retry shortly', {
          retryAfter: 1,
        });
      }
      return r;
    } catch (err) {
      if (err instanceof KilnError) throw err;
      throw unavailable(err);
    } finally {
      clearTimeout(timer);
    }
  }

  function unavailable(cause?: unknown): KilnError {
    return new KilnError('ERR_UNAVAILABLE', `identity provider JWKS unavailable: ${lastError}`, {
      cause,
      retryAfter: retryAfterSec(),
    });
  }

  return {
    current() {
      const now = env.now();
      if (keys !== null) {
        const age = now - keys.fetchedAt;
        if (age < o.maxAgeMs) return Promise.resolve(keys);
        if (age < o.maxAgeMs + o.staleIfErrorMs) {
          if (!coolingDown()) start().catch(() => {}); // refreshed in the background
          return Promise.resolve(keys);
        }
      }
      if (inflight !== null) return waitFor(inflight);
      if (coolingDown() && lastError !== '') return Promise.reject(unavailable());
      return waitFor(start());
    },
    refresh(seen) {
      if (keys !== null && keys !== seen) return Promise.resolve(keys);
      if (inflight !== null) return waitFor(inflight);
      if (coolingDown()) {
        const ago = Math.round((env.now() - (keys?.fetchedAt ?? lastAttempt)) / 1000);
        return Promise.reject(
          new KilnError(
            'ERR_UNAVAILABLE',
            `no key fetched ${ago} s ago verifies the token, which may be newer: the keys are fetched ` +
              `again after the ${o.cooldownMs / 1000} s cooldown`,
            { retryAfter: retryAfterSec() },
          ),
        );
      }
      return waitFor(start());
    },
  };
}
