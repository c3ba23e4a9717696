/**
 * Redis being down is not a bug: connection failures (and a server still loading its data, a
 * cluster slot without a master, …) become `ERR_UNAVAILABLE` (503 + Retry-After) instead of a 500.
 * {@link guardUnavailable} wraps a port so every method that touches Redis maps its failure once.
 */
import { KilnError } from '../protocol/errors.ts';

/** Server replies that mean "try again shortly", not "your command is wrong". */
const TRANSIENT_REPLY = /^(LOADING|BUSY |MASTERDOWN|CLUSTERDOWN|TRYAGAIN|READONLY|NOREPLICAS)\b/;
/** What ioredis throws when it has no usable connection (to one server, or to a cluster's nodes). */
const NO_CONNECTION =
  /Connection is closed|Stream isn't writeable|Command timed out|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|EHOSTUNREACH|Reached the max retries|connect ETIMEDOUT|Socket closed|Cluster isn't ready|None of startup nodes is available|Failed to refresh slots cache|Too many Cluster redirections/;

/** True when `err` says Redis cannot be reached (or cannot serve yet), rather than a bug. */
export function isRedisUnavailable(err: unknown): boolean {
  if (!(err instanceof Error) || err instanceof KilnError) return false;
  if (err.name === 'ReplyError') return TRANSIENT_REPLY.test(err.message);
  if (err.name === 'MaxRetriesPerRequestError' || err.name === 'ClusterAllFailedError') return true;
  return NO_CONNECTION.test(err.message);
}

/** The coded form of a Redis outage; anything else is returned unchanged. */
export function unavailableError(err: unknown): unknown {
  if (!isRedisUnavailable(err)) return err;
  return new KilnError('ERR_UNAVAILABLE', `the farm's Redis is unavailable (${(err as Error).message})`, {
    cause: err,
    retryAfter: 1,
  });
}

/**
 * A view of `port` whose methods turn Redis outages into ERR_UNAVAILABLE. Values that are not
 * functions pass through; a method's result is mapped when it is a promise.
 */
export function guardUnavailable<T extends object>(port: T): T {
  return new Proxy(port, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        let out: unknown;
        try {
          out = (v as (...a: unknown[]) => unknown).apply(target, args);
        } catch (err) {
          throw unavailableError(err);
        }
        if (out instanceof Promise)
          return out.catch((err: unknown) => {
            throw unavailableError(err);
          });
        return out;
      };
    },
  });
}
