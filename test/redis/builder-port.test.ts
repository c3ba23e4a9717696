/** The builder-port conformance suite on Redis (redis/builder-farm.ts), against a real redis-server. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { useTestRedis } from '../helpers/redis.ts';
import { ON_CLUSTER } from '../helpers/redis-mode.ts';
import { builderPortConformance } from './builder-port.conformance.ts';
import { builderInfo, KEY, LONG_LEASE_MS } from './farm-under-test.ts';

const redis = useTestRedis();
builderPortConformance('redis', () => redis.farm());

describe('redis builder port', () => {
  it(
    'finish sends the release before the ack, in one batch',
    { skip: ON_CLUSTER && 'one server only' },
    async () => {
      const sut = await redis.farm();
      try {
        await sut.builder.register(builderInfo('a'), KEY, LONG_LEASE_MS);
        await sut.gateway.placeJob('j', 'linux-x86_64', '');
        await sut.gateway.enqueue('a', { jobId: 'j', attempt: 1, token: 't' });
        const [msg] = await sut.builder.pull('a', 1, 10);
        const monitor = await (redis.connect() as Redis).monitor();
        const seen: string[] = [];
        monitor.on('monitor', (_time: string, args: string[]) => seen.push(String(args[0]).toLowerCase()));
        assert.equal(await sut.builder.finish('j', 'a', msg!.ackId), true);
        // MONITOR shows commands as the server runs them: wait for the last one to be shown.
        while (!seen.includes('xdel')) await new Promise((r) => setImmediate(r));
        monitor.disconnect();
        const order = seen.filter((c) => ['evalsha', 'xack', 'xdel'].includes(c));
        assert.deepEqual(order, ['evalsha', 'xack', 'xdel']);
        assert.equal(await sut.unacked('a'), 0);
      } finally {
        await sut.cleanup();
      }
    },
  );
});
