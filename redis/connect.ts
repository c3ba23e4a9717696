/** Redis connections: `redis://` or `rediss://` (TLS) URLs, with ACL user and password in the URL. */
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
}

/** Opens a connection and waits until it is ready, with a clear error when it cannot be. */
export async function connectRedis(opts: RedisOptions): Promise<Redis> {
  const redis = new Redis(opts.url, {
    connectionName: opts.name ?? 'kiln',
    connectTimeout: opts.connectTimeoutMs ?? 5000,
    lazyConnect: true,
    maxRetriesPerRequest: 3,
    enableAutoPipelining: true,
    ...(opts.failFast ? { enableOfflineQueue: false, commandTimeout: opts.commandTimeoutMs ?? 5000 } : {}),
  });
  redis.on('error', () => {
    /* reported through the failing command; ioredis reconnects by itself */
  });
  try {
    await redis.connect();
  } catch (err) {
    redis.disconnect();
    throw new KilnError(
      'ERR_UNAVAILABLE',
      `cannot connect to Redis at ${redactUrl(opts.url)}: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  return redis;
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
