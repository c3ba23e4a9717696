/**
 * The ONE place that builds an ioredis client: one server from a `redis://` or `rediss://` URL
 * (TLS, with a private CA and a client certificate), or a Redis Cluster reached through seed nodes
 * with the same scheme and options, as an ACL user (in the URL or given apart). Failures say which
 * of them went wrong. Everything else takes a {@link RedisConn}.
 */
import { Cluster, Redis, type ClusterOptions, type RedisOptions as IoRedisOptions } from 'ioredis';
import { KilnError } from '../protocol/errors.ts';

/** A connection to the farm's Redis: one server, or a cluster (the scripts keep each call in one slot). */
export type RedisConn = Redis | Cluster;

export interface RedisOptions {
  /** `redis://[user:pass@]host:port[/db]` or `rediss://…` for TLS. */
  url: string;
  /**
   * Redis Cluster: `true`, or more seed nodes (`host:port`) besides the URL's host. The URL's
   * scheme, user and password (and the options below) apply to every node; the cluster's other
   * nodes are found from the seeds. @default false (one server)
   */
  cluster?: boolean | string[];
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

/** What every node connection gets, one server or each node of a cluster. */
function nodeOptions(opts: RedisOptions): IoRedisOptions {
  return {
    connectionName: opts.name ?? 'kiln',
    connectTimeout: opts.connectTimeoutMs ?? 5000,
    maxRetriesPerRequest: 3,
    ...(opts.username !== undefined ? { username: opts.username } : {}),
    ...(opts.password !== undefined ? { password: opts.password } : {}),
    ...(opts.tls ? { tls: opts.tls } : {}),
    ...(opts.failFast ? { commandTimeout: opts.commandTimeoutMs ?? 5000 } : {}),
  };
}

/** Seed nodes of a cluster: the URL's host, then the listed ones. */
export function clusterSeeds(url: string, more: string[]): { host: string; port: number }[] {
  const u = new URL(url);
  const seeds = [`${u.hostname}:${u.port || '6379'}`, ...more];
  return [...new Set(seeds)].map((s) => {
    const i = s.lastIndexOf(':');
    return { host: s.slice(0, i).replace(/^\[(.*)\]$/, '$1'), port: Number(s.slice(i + 1)) };
  });
}

/** A cluster client: credentials and TLS from the URL and the options, applied to every node. */
function newCluster(opts: RedisOptions, more: string[]): Cluster {
  const u = new URL(opts.url);
  const options: ClusterOptions = {
    lazyConnect: true,
    enableAutoPipelining: true,
    enableOfflineQueue: !opts.failFast,
    // Fail fast: a slot without a master (CLUSTERDOWN) or a node that went away is an error at
    // once (503), not 16 retries; MOVED and ASK are still followed.
    ...(opts.failFast ? { retryDelayOnClusterDown: 0, retryDelayOnFailover: 0 } : {}),
    redisOptions: {
      ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
      ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
      ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
      ...nodeOptions(opts),
    },
  };
  return new Cluster(clusterSeeds(opts.url, more), options);
}

/** Builds a client (not connected yet); {@link connectRedis} is the usual way in. */
export function newRedisConn(opts: RedisOptions): RedisConn {
  if (opts.cluster) return newCluster(opts, opts.cluster === true ? [] : opts.cluster);
  return new Redis(opts.url, {
    ...nodeOptions(opts),
    lazyConnect: true,
    enableAutoPipelining: true,
    ...(opts.failFast ? { enableOfflineQueue: false } : {}),
  });
}

/** Opens a connection and waits until it is ready, with a clear error when it cannot be. */
export async function connectRedis(opts: RedisOptions & { cluster?: false }): Promise<Redis>;
export async function connectRedis(opts: RedisOptions): Promise<RedisConn>;
export async function connectRedis(opts: RedisOptions): Promise<RedisConn> {
  const redis = newRedisConn(opts);
  // Reported through the failing command; ioredis reconnects by itself. While connecting, the
  // error event is what says why (a refused certificate, NOAUTH): connect() only sees the close.
  let why: Error | undefined;
  const onError = (err: Error): void => void (why ??= err);
  redis.on('error', onError);
  const where = `${opts.cluster ? 'the Redis Cluster' : 'Redis'} at ${redactUrl(opts.url)}${asUser(opts)}`;
  try {
    await redis.connect();
    redis.off('error', onError);
    redis.on('error', () => undefined);
  } catch (failed) {
    redis.disconnect();
    const err =
      why && /Connection is closed|None of startup nodes/.test((failed as Error).message) ? why : failed;
    throw new KilnError(
      'ERR_UNAVAILABLE',
      `cannot connect to ${where}: ${(err as Error).message.trim()}${hint(err, opts)}`,
      { cause: err },
    );
  }
  // A cluster node reached as one server would answer MOVED to most keys: say so at start instead.
  if (!opts.cluster && /cluster_enabled:1/.test(await redis.info('cluster').catch(() => ''))) {
    redis.disconnect();
    throw new KilnError(
      'ERR_CONFIG',
      `${where} is a node of a Redis Cluster: set redis.cluster = true (or list more seed nodes)`,
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
  if (opts.cluster) return ' (with redis.cluster set, each seed must be a node of a Redis Cluster)';
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
