/**
 * The connection options of a `[redis]` config section: one server or a cluster's seeds, the ACL
 * user and its password (given, or read from `passwordFile`), and for `rediss://` the CA and
 * client certificate files, read here so a missing file is a config error that names it, not a
 * TLS failure later.
 */
import { readFileSync } from 'node:fs';
import type { RedisConfig } from '../protocol/farm-config.ts';
import { KilnError } from '../protocol/errors.ts';
import type { RedisOptions } from '../redis/connect.ts';

function read(what: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new KilnError('ERR_CONFIG', `cannot read redis.${what} ${file}: ${why}`, { cause: err });
  }
}

/** Everything {@link connectRedis} needs of `cfg` but the connection's name. */
export function redisOptions(cfg: RedisConfig): Omit<RedisOptions, 'name'> {
  const password =
    cfg.passwordFile !== undefined
      ? read('passwordFile', cfg.passwordFile)
          .toString('utf8')
          .replace(/\r?\n$/, '')
      : cfg.password;
  const t = cfg.tls;
  return {
    url: cfg.url,
    ...(cfg.cluster ? { cluster: cfg.cluster } : {}),
    ...(cfg.username !== undefined ? { username: cfg.username } : {}),
    ...(password !== undefined ? { password } : {}),
    ...(t
      ? {
          tls: {
            ...(t.ca !== undefined ? { ca: read('tls.ca', t.ca) } : {}),
            ...(t.cert !== undefined ? { cert: read('tls.cert', t.cert) } : {}),
            ...(t.key !== undefined ? { key: read('tls.key', t.key) } : {}),
            ...(t.servername !== undefined ? { servername: t.servername } : {}),
          },
        }
      : {}),
  };
}
