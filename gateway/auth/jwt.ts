/**
 * The `jwt` client auth method: JWTs from one identity provider, routed here by their
 * (unverified) `iss`, verified with the provider's keys, then held to the configured rules.
 */
import { errors, jwtVerify } from 'jose';
import type { JWTPayload, JWTVerifyOptions } from 'jose';
import { KilnError } from '../../protocol/errors.ts';
import { compileRules, principalOf, unauthenticated } from './claims.ts';
import { discoverJwksUrl } from './discovery.ts';
import type { AuthEnv } from './fetch-json.ts';
import type { JwtMethodConfig } from './jwt-config.ts';
import { headerProblem, isJobTokenTyp, peekJwt } from './jwt-peek.ts';
import type { PeekedJwt } from './jwt-peek.ts';
import { createKeySet, type Keys } from './key-set.ts';
import type { AuthMethod } from './principal.ts';
import { checkGrant } from './jwt-grant.ts';

const WHO = 'jwt rejected';

/** Builds a `jwt` method; nothing is fetched until the first token arrives. */
export function createJwtMethod(config: JwtMethodConfig, env: AuthEnv): AuthMethod {
  const issuers = typeof config.issuer === 'string' ? [config.issuer] : config.issuer;
  const jwksUrl = config.jwksUrl;
  const keySet = createKeySet(
    {
      jwksUrl: jwksUrl !== undefined ? () => Promise.resolve(jwksUrl) : discoverJwksUrl(issuers[0]!, env),
      maxAgeMs: config.cacheMaxAgeSec * 1000,
      staleIfErrorMs: config.staleIfErrorSec * 1000,
      cooldownMs: config.cooldownSec * 1000,
      fetchTimeoutMs: config.fetchTimeoutMs,
      waitMs: config.fetchWaitMs,
    },
    env,
  );
  const breaksRules = compileRules(config.claims);
  const toleranceMs = config.clockToleranceSec * 1000;
  const verify = (bearer: string, keys: Keys): Promise<JWTPayload> => {
    const options: JWTVerifyOptions = {
      algorithms: config.algorithms,
      issuer: issuers,
      audience: config.audience,
      clockTolerance: config.clockToleranceSec,
      requiredClaims: [...new Set(['exp', ...config.requiredClaims])],
      currentDate: new Date(env.now()),
      ...(config.typ !== undefined ? { typ: config.typ } : {}),
    };
    return jwtVerify(bearer, keys.getKey, options).then((r) => r.payload);
  };

  return {
    type: 'jwt',
    async authenticate(bearer) {
      const jwt = peekJwt(bearer);
      if (jwt === null) return null;
      const problem = headerProblem(jwt.header);
      if (problem !== null) throw unauthenticated(WHO, `malformed token: ${problem}`);
      if (isJobTokenTyp(jwt.header.typ))
        throw unauthenticated(WHO, 'kiln job tokens are not client credentials');
      if (typeof jwt.payload.iss !== 'string' || !issuers.includes(jwt.payload.iss)) return null;

      let keys = await keySet.current();
      let payload: JWTPayload;
      try {
        payload = await verify(bearer, keys);
      } catch (err) {
        if (!mayBeNewerThan(err, jwt, keys, toleranceMs)) throw rejection(err, jwt);
        keys = await keySet.refresh(keys);
        try {
          payload = await verify(bearer, keys);
        } catch (again) {
          throw rejection(again, jwt);
        }
      }
      const refused = checkGrant(payload, config, env.now()) ?? breaksRules(payload);
      if (refused !== null) throw unauthenticated(WHO, refused);
      return principalOf(payload, config, 'jwt', WHO);
    },
  };
}

/**
 * True when the keys refused the token in a way newer keys might not (no key with its `kid`, or
 * a failed signature: a rotation, a re-used `kid`) and the token may have been issued after the
 * keys were fetched (its unverified `iat` says so, or it has none). A token issued before the
 * fetch was signed with keys the provider already published, so its refusal is final.
 */
function mayBeNewerThan(err: unknown, jwt: PeekedJwt, keys: Keys, toleranceMs: number): boolean {
  if (!(err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWSSignatureVerificationFailed)) {
    return false;
  }
  const iat = jwt.payload.iat;
  return typeof iat !== 'number' || iat * 1000 + toleranceMs >= keys.fetchedAt;
}

/** A precise, secret-free reason for a failed verification (503 when the keys are unavailable). */
function rejection(err: unknown, jwt: PeekedJwt): KilnError {
  if (err instanceof KilnError) return err;
  if (!(err instanceof errors.JOSEError)) {
    return new KilnError('ERR_UNAVAILABLE', `identity provider keys unusable: ${String(err)}`, {
      cause: err,
    });
  }
  switch (err.code) {
    case errors.JWTExpired.code:
      return unauthenticated(WHO, 'token expired', err);
    case errors.JWTClaimValidationFailed.code:
      return unauthenticated(WHO, err.message, err);
    case errors.JOSEAlgNotAllowed.code:
      return unauthenticated(
        WHO,
        `algorithm ${JSON.stringify(jwt.header.alg).slice(0, 40)} is not allowed`,
        err,
      );
    case errors.JWKSNoMatchingKey.code:
      return unauthenticated(WHO, 'no key in the JWKS matches the token (unknown kid or key type)', err);
    case errors.JWKSMultipleMatchingKeys.code:
      return unauthenticated(WHO, 'several JWKS keys match the token: it must name its kid', err);
    case errors.JWSSignatureVerificationFailed.code:
      return unauthenticated(WHO, 'signature verification failed', err);
    default:
      return unauthenticated(WHO, `malformed token: ${err.message}`, err);
  }
}
