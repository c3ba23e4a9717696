/**
 * The generated Redis ACL, enforced by a real redis-server speaking TLS only with client
 * certificates of a test CA: one builder's user runs its half of a job; it is refused, each with
 * NOPERM named, the gateway's scripts and Lua of its own, another builder's key, stream and
 * control channel, the presets and the other gateway-only keys, FLUSHALL, CONFIG and KEYS.
 * Connections with a certificate of another CA, with none, or a wrong password never get in.
 * The operator's user rotates the server certificate without a restart.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { createRedisFarm } from '../../redis/farm.ts';
import { createRedisBuilderFarm } from '../../redis/builder-farm.ts';
import { defineScripts } from '../../redis/scripts.ts';
import { connectRedis } from '../../redis/connect.ts';
import { redisKeys, STREAM_GROUP } from '../../protocol/keys.ts';
import { makePki, type Ca, type Pki } from '../helpers/pki.ts';
import { connectAs, startTlsRedis, type TlsRedis } from '../helpers/tls-redis.ts';
import { builderInfo, KEY, LONG_LEASE_MS, newJob, succeeded } from './farm-under-test.ts';

const PREFIX = 'acl';
const keys = redisKeys(PREFIX);
const B1 = 'b1-0123abcd';
const B2 = 'b2-89abcdef';
let pki: Pki;
let ca: Ca;
let dir: string;
let tr: TlsRedis;
let gw: Redis;
let b1: Redis;
let admin: Redis;
const open: Redis[] = [];

before(async () => {
  pki = makePki();
  ca = pki.ca('acl-ca');
  dir = mkdtempSync(join(tmpdir(), 'kiln-acl-'));
  tr = await startTlsRedis({ ca, dir, prefix: PREFIX, builders: ['b1@linux-x86_64', 'b2'] });
  gw = await connectAs(tr, ca, 'kiln-gateway');
  b1 = await connectAs(tr, ca, 'kiln-builder-b1');
  admin = await connectAs(tr, ca, 'kiln-admin');
  open.push(gw, b1, admin);
  // b2 has registered: its key, its stream, a preset and the gateway's keys exist.
  const b2 = await connectAs(tr, ca, 'kiln-builder-b2');
  open.push(b2);
  const b2farm = createRedisBuilderFarm({ redis: b2, pull: b2, sub: b2 }, PREFIX);
  await b2farm.register(builderInfo(B2, { name: 'b2', platform: 'linux-aarch64' }), KEY, LONG_LEASE_MS);
  await gw.hset(keys.presets, 'gcc@linux-x86_64', '{}');
  await gw.set(keys.toolchainOwner('a'.repeat(64)), '{}');
});
after(async () => {
  for (const c of open) c.disconnect();
  await tr?.stop();
  pki?.remove();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const NOPERM = /NOPERM/;

describe('Redis ACL users from kiln redis acl, over TLS with client certificates', () => {
  it('a builder user runs its half of a job; the gateway user the other half', async () => {
    const [pull, sub, gsub] = await Promise.all([
      connectAs(tr, ca, 'kiln-builder-b1'),
      connectAs(tr, ca, 'kiln-builder-b1'),
      connectAs(tr, ca, 'kiln-gateway'),
    ]);
    open.push(pull, sub, gsub);
    const builder = createRedisBuilderFarm({ redis: b1, pull, sub }, PREFIX);
    const gateway = createRedisFarm(gw, gsub, PREFIX);
    await builder.register(builderInfo(B1, { name: 'b1', slots: 1 }), KEY, LONG_LEASE_MS);
    const stops: string[] = [];
    const unwatch = await builder.watchControl(B1, (m) => stops.push(m.jobId));
    // b2 is on linux-aarch64, so the job goes to b1.
    const id = 'j1';
    assert.equal(await gateway.placeJob(id, 'linux-x86_64', ''), B1);
    await gateway.createJob(newJob(id, B1), 600);
    await gateway.enqueue(B1, { jobId: id, attempt: 1, token: 't' });
    const [msg] = await builder.pull(B1, 1, 1000);
    assert.equal(msg?.jobId, id);
    assert.equal((await builder.readJob(id))?.id, id);
    await builder.claim(id, 1, B1);
    await builder.appendLog(id, 1, 'out', new TextEncoder().encode('hello\n'), 0);
    assert.equal(await builder.complete(id, 1, B1, succeeded()), true);
    assert.equal(await builder.releaseSlot(id, B1), true);
    await builder.ack(B1, msg!.ackId);
    await gateway.signalBuilder(B1, id);
    const done = await gateway.getJob(id);
    assert.equal(done?.state, 'succeeded');
    const log = await gateway.readLog(id, '0', 10);
    assert.ok(log.some((e) => e.kind === 'out'));
    assert.ok(log.some((e) => e.kind === 'end'));
    while (stops.length === 0) await new Promise((r) => setImmediate(r));
    assert.deepEqual(stops, [id]);
    await unwatch();
    gateway.close();
  });

  it("a builder cannot run the gateway's scripts, nor Lua of its own", async () => {
    const scripts = defineScripts(b1);
    const r = keys.registry('linux-x86_64');
    const core = [r.leases, r.load, r.slots, r.warmof, r.free, r.drained, r.selfdrain, r.names];
    await assert.rejects(
      scripts.placeJob(...core, r.assign, r.creating, Date.now(), '', 'jx', r.warmPrefix, r.jobsPrefix, ''),
      (err: Error & { code?: string }) =>
        err.code === 'ERR_CONFIG' &&
        /may not run place-job-10\.lua/.test(err.message) &&
        /NOPERM/.test(err.message) &&
        /kiln redis acl/.test(err.message),
    );
    await assert.rejects(
      scripts.requeueJob(keys.job('j1'), 1, 3, '', 'now', '{}', 60),
      /may not run requeue-job/,
    );
    await assert.rejects(b1.eval("return redis.call('GET', KEYS[1])", 1, keys.builderKey(B2)), NOPERM);
    await assert.rejects(b1.call('FUNCTION', 'LIST'), NOPERM);
    await assert.rejects(b1.script('FLUSH'), NOPERM);
  });

  it("a builder cannot read another builder's key, stream or control channel", async () => {
    assert.ok(await admin.get(keys.builderKey(B2)), 'b2 registered its key');
    await assert.rejects(b1.get(keys.builderKey(B2)), NOPERM);
    await assert.rejects(
      b1.xreadgroup('GROUP', STREAM_GROUP, B1, 'COUNT', 1, 'STREAMS', keys.builderStream(B2), '>'),
      NOPERM,
    );
    await assert.rejects(b1.xautoclaim(keys.builderStream(B2), STREAM_GROUP, B1, 0, '0-0'), NOPERM);
    const sub = await connectAs(tr, ca, 'kiln-builder-b1');
    open.push(sub);
    await assert.rejects(sub.subscribe(keys.builderControl(B2)), NOPERM);
    // Nor a key of a builder whose name merely starts with its own.
    await assert.rejects(b1.get(keys.builderKey('b1-x-0123abcd')), NOPERM);
    // Its own key it may write (its registration), and nobody else's.
    assert.equal(await b1.set(keys.builderKey(B1), 'k', 'EX', 60), 'OK');
    await assert.rejects(b1.set(keys.builderKey(B2), 'forged', 'EX', 60), NOPERM);
  });

  it("a builder cannot read the presets, toolchain owners or the gateway's own keys", async () => {
    await assert.rejects(b1.hgetall(keys.presets), NOPERM);
    await assert.rejects(b1.hget(keys.presets, 'gcc@linux-x86_64'), NOPERM);
    await assert.rejects(b1.get(keys.toolchainOwner('a'.repeat(64))), NOPERM);
    await assert.rejects(b1.hgetall(keys.tenantBucket('acme')), NOPERM);
    await assert.rejects(b1.get(keys.idempotency('acme', 'k')), NOPERM);
    await assert.rejects(b1.zrange(keys.registry('linux-x86_64').creating, '0', '-1'), NOPERM);
    await assert.rejects(b1.zrange(keys.recent, '0', '-1'), NOPERM);
    // b1 is a linux-x86_64 builder: the registry of another platform is not its.
    await assert.rejects(b1.hgetall(redisKeys(PREFIX).registry('freebsd-amd64').builders), NOPERM);
    // Keys of another farm's prefix neither.
    await assert.rejects(b1.get('other:bkey:b1-0123abcd'), NOPERM);
  });

  it('no user of a farm process may FLUSHALL, CONFIG, KEYS, SCAN, ACL, SHUTDOWN or BGSAVE', async () => {
    for (const c of [b1, gw]) {
      await assert.rejects(c.flushall(), NOPERM);
      await assert.rejects(c.flushdb(), NOPERM);
      await assert.rejects(c.config('GET', 'dir'), NOPERM);
      await assert.rejects(c.config('SET', 'dir', '/tmp'), NOPERM);
      await assert.rejects(c.keys('*'), NOPERM);
      await assert.rejects(c.scan('0'), NOPERM);
      await assert.rejects(c.call('BGSAVE'), NOPERM);
      await assert.rejects(c.call('MODULE', 'LIST'), NOPERM);
      await assert.rejects(c.call('ACL', 'LIST'), NOPERM);
      await assert.rejects(c.call('SHUTDOWN'), NOPERM);
    }
    assert.ok(await admin.get(keys.builderKey(B2)), 'nothing was flushed');
  });

  it('the default user is off: no password, no access', async () => {
    const none = connectRedis({
      url: tr.url,
      connectTimeoutMs: 3000,
      tls: {
        ca: readFileSync(ca.cert),
        cert: readFileSync(tr.certOf('x').cert),
        key: readFileSync(tr.certOf('x').key),
      },
    });
    await assert.rejects(
      none,
      /cannot connect to Redis at rediss:\/\/127\.0\.0\.1:\d+\/?: .*(NOAUTH|WRONGPASS)/,
    );
  });

  it('a wrong password is refused, and the message says what to check', async () => {
    await assert.rejects(
      connectRedis({
        url: tr.url,
        username: 'kiln-gateway',
        password: 'not-it',
        connectTimeoutMs: 3000,
        tls: {
          ca: readFileSync(ca.cert),
          cert: readFileSync(tr.certOf('y').cert),
          key: readFileSync(tr.certOf('y').key),
        },
      }),
      /as kiln-gateway: WRONGPASS.*check redis\.username and the password/,
    );
  });

  it('Redis refuses a client certificate of another CA, and a connection without one', async () => {
    const stranger = pki.ca('stranger-ca').issue('mallory', '/CN=kiln-gateway/O=kiln');
    await assert.rejects(
      connectAs(tr, ca, 'kiln-gateway', { cert: stranger }),
      /cannot connect to Redis at rediss:.* as kiln-gateway: .*refused our client certificate/s,
    );
    await assert.rejects(
      connectAs(tr, ca, 'kiln-gateway', { cert: null }),
      /cannot connect to Redis at rediss:.* as kiln-gateway: .*refused our client certificate/s,
    );
  });

  it("a client that does not trust the server's CA says to set redis.tls.ca", async () => {
    const cert = tr.certOf('kiln-gateway');
    await assert.rejects(
      connectRedis({
        url: tr.url,
        username: 'kiln-gateway',
        password: tr.passwords.get('kiln-gateway')!,
        connectTimeoutMs: 3000,
        tls: { cert: readFileSync(cert.cert), key: readFileSync(cert.key) },
      }),
      /certificate is not trusted: set redis\.tls\.ca/,
    );
  });

  it('kiln-admin rotates the server certificate with CONFIG SET, no restart; farm users connect on', async () => {
    const served = (): Promise<string> =>
      new Promise((resolve, reject) => {
        const c = tr.certOf('probe');
        const s = connect(
          {
            host: '127.0.0.1',
            port: tr.port,
            ca: readFileSync(ca.cert),
            cert: readFileSync(c.cert),
            key: readFileSync(c.key),
          },
          () => {
            resolve(s.getPeerCertificate().fingerprint256);
            s.end();
          },
        );
        s.on('error', reject);
      });
    const before = await served();
    const renewed = ca.issue('redis-renewed', '/CN=kiln redis', { server: true });
    await admin.config('SET', 'tls-cert-file', renewed.cert, 'tls-key-file', renewed.key);
    assert.notEqual(await served(), before);
    const again = await connectAs(tr, ca, 'kiln-gateway');
    open.push(again);
    assert.equal(await again.ping(), 'PONG');
  });
});
