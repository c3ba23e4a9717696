/**
 * Both farm-port conformance suites again, over TLS with client certificates, each port as the
 * Redis user `kiln redis acl` made for its role (the gateway's, and the builder user for any
 * builder name, since the suites' builder ids are free-form): the command lists and key patterns
 * of the generated ACL cover everything the ports do.
 */
import { after, before } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { createRedisFarm } from '../../redis/farm.ts';
import { createRedisBuilderFarm } from '../../redis/builder-farm.ts';
import { redisKeys, STREAM_GROUP } from '../../protocol/keys.ts';
import { makePki, type Ca, type Pki } from '../helpers/pki.ts';
import { connectAs, startTlsRedis, type TlsRedis } from '../helpers/tls-redis.ts';
import { gatewayPortConformance } from './gateway-port.conformance.ts';
import { builderPortConformance } from './builder-port.conformance.ts';
import type { FarmUnderTest } from './farm-under-test.ts';

const PREFIX = 'aclconf';
let pki: Pki;
let ca: Ca;
let dir: string;
let tr: TlsRedis;
let admin: Redis;

before(async () => {
  pki = makePki();
  ca = pki.ca('conf-ca');
  dir = mkdtempSync(join(tmpdir(), 'kiln-aclconf-'));
  tr = await startTlsRedis({ ca, dir, prefix: PREFIX, builders: ['*'] });
  admin = await connectAs(tr, ca, 'kiln-admin');
});
after(async () => {
  admin?.disconnect();
  await tr?.stop();
  pki?.remove();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function farm(): Promise<FarmUnderTest> {
  const [redis, gatewaySub] = await Promise.all([
    connectAs(tr, ca, 'kiln-gateway'),
    connectAs(tr, ca, 'kiln-gateway'),
  ]);
  const [bredis, pull, builderSub] = await Promise.all([
    connectAs(tr, ca, 'kiln-builder'),
    connectAs(tr, ca, 'kiln-builder'),
    connectAs(tr, ca, 'kiln-builder'),
  ]);
  const conns = [redis, gatewaySub, bredis, pull, builderSub];
  const gateway = createRedisFarm(redis, gatewaySub, PREFIX);
  const builder = createRedisBuilderFarm({ redis: bredis, pull, sub: builderSub }, PREFIX);
  const keys = redisKeys(PREFIX);
  return {
    gateway,
    builder,
    async unacked(bid) {
      const [count] = (await admin.xpending(keys.builderStream(bid), STREAM_GROUP)) as [number];
      return Number(count);
    },
    async cleanup() {
      gateway.close();
      let cursor = '0';
      do {
        const [next, found] = await admin.scan(cursor, 'MATCH', `${PREFIX}:*`, 'COUNT', 500);
        if (found.length > 0) await admin.unlink(...found);
        cursor = next;
      } while (cursor !== '0');
      for (const c of conns) c.disconnect();
    },
  };
}

gatewayPortConformance('redis over TLS as the kiln-gateway ACL user', farm);
builderPortConformance('redis over TLS as the kiln-builder ACL user', farm);
