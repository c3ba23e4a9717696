/**
 * Redis connections: `redis://` or `rediss://` (TLS, with a private CA and a client certificate),
 * as an ACL user (in the URL or given apart). Failures say which of them went wrong.
 */
import { Redis } from 'ioredis';
import { KilnError } from '../protocol/errors.ts';

export interface RedisOptions {
  /** `redis://[user:pass@]host:port[/db]` or `rediss://…` for TLS. */
  url: string;
  /** Name shown by CLIENT LIST. @default "kiln" */
  name?: string;
  /** Give up connecting after this many ms. @default 5000 */
  connectTimeoutMs?: number;
  /**
   * Fail commands at once while disconnected (no offline queue) and after `commandTimeoutMs`, so a
   * server answers 503 instead of hanging (the gateway). Builders keep the queue: they wait it out.
   * @default false
   */
  failFast?: boolean;
  /** With `failFast`: a command without an answer after this long fails. @default 5000 */
  commandTimeoutMs?: number;
  /** ACL user, overriding the URL's. */
  username?: string;
  /** Its password, overriding the URL's. */
  password?: string;
  /** For `rediss://`: CA bundle, client certificate and key (PEM contents), name to verify. */
  tls?: { ca?: Buffer | string; cert?: Buffer | string; key?: Buffer | string; servername?: string };
}

/** Opens a connection and waits until it is ready, with a clear error when it cannot be. */
export async function connectRedis(opts: RedisOptions): Promise<Redis> {
  const redis = new Redis(opts.url, {
    connectionName: opts.name ?? 'kiln',
    connectTimeout: opts.connectTimeoutMs ?? 5000,
    lazyConnect: true,
    maxRetriesPerRequest: 3,
    enableAutoPipelining: true,
    ...(opts.username !== undefined ? { username: opts.username } : {}),
    ...(opts.password !== undefined ? { password: opts.password } : {}),
    ...(opts.tls ? { tls: opts.tls } : {}),
    ...(opts.failFast ? { enableOfflineQueue: false, commandTimeout: opts.commandTimeoutMs ?? 5000 } : {}),
  });
  // Reported through the failing command; ioredis reconnects by itself. While connecting, the
  // error event is what says why (a refused certificate, NOAUTH): connect() only sees the close.
  let why: Error | undefined;
  const onError = (err: Error): void => void (why ??= err);
  redis.on('error', onError);
  try {
    await redis.connect();
    redis.off('error', onError);
    redis.on('error', () => undefined);
  } catch (failed) {
    redis.disconnect();
    const err = why && /Connection is closed/.test((failed as Error).message) ? why : failed;
    throw new KilnError(
      'ERR_UNAVAILABLE',
      `cannot connect to Redis at ${redactUrl(opts.url)}${asUser(opts)}: ${(err as Error).message.trim()}${hint(err, opts)}`,
      { cause: err },
    );
  }
  return redis;
}

function asUser(opts: RedisOptions): string {
  let user = opts.username;
  try {
    user ??= decodeURIComponent(new URL(opts.url).username) || undefined;
  } catch {
    /* the URL is reported as it is */
  }
  return user ? ` as ${user}` : '';
}

/** What to check, for the failures whose message alone does not say it. */
function hint(err: unknown, opts: RedisOptions): string {
  const e = err as NodeJS.ErrnoException;
  const m = `${e?.code ?? ''} ${e?.message ?? ''}`;
  const tls = opts.url.startsWith('rediss://');
  if (/WRONGPASS|NOAUTH/.test(m))
    return ' (check redis.username and the password against the ACL file: kiln redis acl)';
  if (/NOPERM/.test(m))
    return " (the user's ACL lacks a command kiln needs: regenerate it with kiln redis acl)";
  if (
    /alert (unknown ca|bad certificate|certificate required|certificate expired)|alert number (48|42|116|45)/i.test(
      m,
    )
  )
    return ' (the server refused our client certificate: redis.tls.cert must be signed by its tls-ca-cert-file CA and valid)';
  if (/self[- ]signed|unable to (verify|get local issuer)|UNABLE_TO_|CERT_|DEPTH_ZERO/i.test(m))
    return " (the server's certificate is not trusted: set redis.tls.ca to the CA that signed it)";
  // TLS 1.3: the server checks our certificate after the handshake and drops the connection.
  if (tls && /ECONNRESET|socket hang up|Connection is closed|EPIPE/.test(m))
    return ' (the server closed the TLS connection: most likely it refused our client certificate; redis.tls.cert must be signed by its tls-ca-cert-file CA and valid)';
  if (/ERR_TLS_CERT_ALTNAME_INVALID|altnames/i.test(m))
    return " (the server's certificate does not name this host: fix its subjectAltName or set redis.tls.servername)";
  return '';
}

/** The URL without its password, for messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '<invalid url>';
  }
}
