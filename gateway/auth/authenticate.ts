/** Authenticates a request's client with the configured methods, tried in order. */
import { KilnError } from '../../protocol/errors.ts';
import { authConfigSchema } from './config.ts';
import type { AuthConfig } from './config.ts';
import { realAuthEnv, type AuthEnv } from './fetch-json.ts';
import { createClientCertMethod } from './client-cert.ts';
import { createInsecureMethod } from './insecure.ts';
import { createJwtMethod } from './jwt.ts';
import { peekJwt } from './jwt-peek.ts';
import type { AuthMethod, Principal } from './principal.ts';
import { createProxyTokenMethod } from './proxy-token.ts';
import { createTokenMethod } from './token.ts';

/** Authenticates requests; built once per gateway. */
export interface Authenticator {
  /** Configured method types, in the order they are tried. */
  readonly methods: readonly AuthMethod['type'][];
  /** The request's principal; throws `KilnError('ERR_UNAUTHENTICATED')` when no method accepts. */
  authenticate(req: Request): Promise<Principal>;
}

/** Printed once when an `insecure` method is configured. */
export const INSECURE_WARNING =
  '!!! kiln gateway: client auth method "insecure" is enabled: EVERY request is accepted without a ' +
  'credential. Development only: never expose this gateway to a network. !!!';

/**
 * Validates `config` now (throws `KilnError('ERR_CONFIG')` listing every problem with its path),
 * builds each method once, and warns through `log` when `insecure` is enabled.
 * @param log where the insecure warning goes. @default console.warn
 * @param env clock and fetch of the methods. @default the real ones
 */
export function createAuthenticator(
  config: AuthConfig,
  log: (msg: string) => void = (msg) => console.warn(msg),
  env: Partial<AuthEnv> = {},
): Authenticator {
  const parsed = authConfigSchema.safeParse(config);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => ({ path: formatPath(i.path), message: i.message }));
    const lines = problems.map((p) => `  ${p.path || '(root)'}: ${p.message}`);
    throw new KilnError('ERR_CONFIG', `invalid auth config:\n${lines.join('\n')}`, { detail: { problems } });
  }
  const world: AuthEnv = { ...realAuthEnv, ...env };
  const methods = parsed.data.methods.map((m): AuthMethod => {
    switch (m.type) {
      case 'jwt':
        return createJwtMethod(m, world);
      case 'token':
        return createTokenMethod(m);
      case 'proxy_token':
        return createProxyTokenMethod(m, world);
      case 'client_cert':
        return createClientCertMethod(m);
      case 'insecure':
        return createInsecureMethod(m);
    }
  });
  if (methods.some((m) => m.type === 'insecure')) log(INSECURE_WARNING);
  const types = methods.map((m) => m.type);
  const credentialed = [...new Set(types.filter((t) => t !== 'insecure'))].join(', ');
  const maxBytes = parsed.data.maxTokenBytes;
  const certs = types.includes('client_cert');

  return {
    methods: types,
    async authenticate(req) {
      const read = readBearer(req.headers.get('authorization'), maxBytes);
      const { bearer } = read;
      const problem =
        read.problem !== undefined && certs ? `${read.problem}, or a client certificate` : read.problem;
      for (const method of methods) {
        if (bearer === '' && method.type !== 'insecure' && method.type !== 'client_cert') continue;
        const principal = await method.authenticate(bearer, req);
        if (principal !== null) return principal;
      }
      throw new KilnError(
        'ERR_UNAUTHENTICATED',
        problem ??
          `credential not accepted by any configured auth method (${credentialed})${issuerHint(bearer)}`,
      );
    },
  };
}

/** The bearer token of an Authorization header, or '' with the reason there is none. */
function readBearer(header: string | null, maxBytes: number): { bearer: string; problem?: string } {
  if (header === null || header.trim() === '') {
    return { bearer: '', problem: 'missing credential: send "Authorization: Bearer <token>"' };
  }
  if (header.length > maxBytes + 16) {
    throw new KilnError(
      'ERR_CREDENTIAL_TOO_LARGE',
      `the Authorization header is over ${maxBytes} bytes: no credential this gateway accepts is that long`,
    );
  }
  const match = /^Bearer +([^\s]+) *$/i.exec(header);
  if (match?.[1] === undefined) {
    return { bearer: '', problem: 'the Authorization header must be "Bearer <token>"' };
  }
  return { bearer: match[1] };
}

/** For a JWT nobody took: which issuer it names, since that is the usual reason. */
function issuerHint(bearer: string): string {
  const iss = peekJwt(bearer)?.payload.iss;
  if (iss === undefined) return '';
  return `: no jwt method is configured for issuer ${JSON.stringify(iss).slice(0, 200)}`;
}

/** `methods[0].tokens[1].sha256` from a zod issue path. */
function formatPath(path: readonly PropertyKey[]): string {
  return path
    .map((k, i) => (typeof k === 'number' ? `[${k}]` : `${i === 0 ? '' : '.'}${String(k)}`))
    .join('');
}
