/**
 * {@link LeaseStore} on Redis: one hash per FreeBSD host (`protocol/keys.ts` potLeases), pot name →
 * lease JSON, shared by every builder instance on that host so each can judge the others' pots.
 */
import type { RedisConn } from './connect.ts';
import { redisKeys } from '../protocol/keys.ts';
import { potLeaseSchema, type PotLease } from '../protocol/pot-lease.ts';
import type { LeaseStore } from '../builders/freebsd/leases.ts';

export function createRedisLeaseStore(redis: RedisConn, host: string, prefix = 'kiln'): LeaseStore {
  const key = redisKeys(prefix).potLeases(host);
  return {
    async all() {
      const out: PotLease[] = [];
      for (const raw of Object.values(await redis.hgetall(key))) {
        let v: unknown = null;
        try {
          v = JSON.parse(raw);
        } catch {
          // a malformed record is no lease: the pot it names is destroyed as unknown
        }
        const r = potLeaseSchema.safeParse(v);
        if (r.success) out.push(r.data);
      }
      return out;
    },
    async put(lease) {
      await redis.hset(key, lease.name, JSON.stringify(lease));
    },
    async remove(name) {
      await redis.hdel(key, name);
    },
  };
}
