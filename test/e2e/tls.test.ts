/**
 * A job end to end with every hop on TLS (test/helpers/tls-farm.ts): kiln → gateway over HTTPS
 * with a client certificate, gateway and builder → Redis over rediss:// as their ACL users with
 * their certificates, everyone → the store over HTTPS with a private CA (the client's presigned
 * uploads and downloads included). Refused with a clear error: no client certificate, one of
 * another CA, an expired one; a client, and a gateway, that do not trust the store's CA.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gatewayConfigSchema } from '../../gateway/config.ts';
import { wireGateway } from '../../wiring/gateway.ts';
import { s3Storage } from '../helpers/s3rver.ts';
import { kiln } from '../helpers/cli.ts';
import { startTlsFarm, type TlsFarm } from '../helpers/tls-farm.ts';
import { connectAs } from '../helpers/tls-redis.ts';

describe('every hop on TLS (Node gateway)', { timeout: 170_000 }, () => {
  let t: TlsFarm;
  let src: string;

  before(async () => {
    t = await startTlsFarm();
    src = join(t.dir, 'src');
    await mkdir(src, { recursive: true });
    await writeFile(
      join(src, 'hello.c'),
      '#include <stdio.h>\nint main(void){puts("hello over TLS");return 0;}\n',
    );
  });
  after(() => t?.stop());

  it('kiln run compiles on the farm and brings the program back', async () => {
    const alice = t.ca.issue('alice', '/CN=alice/O=dev');
    const r = await kiln(
      ['run', '--input', 'src', '--output', 'hello', '--', 'gcc', '-o', 'hello', 'hello.c'],
      {
        url: t.farm.url,
        cwd: t.dir,
        env: t.clientEnv(alice),
      },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(t.farm.url, /^https:/);
    assert.match(t.redis.url, /^rediss:/);
    assert.match(t.s3.endpoint, /^https:/);
    assert.equal(execFileSync(join(src, 'hello'), { encoding: 'utf8' }), 'hello over TLS\n');
    // The builder ran it as its own Redis user, over TLS: the server lists both users' clients.
    const admin = await connectAs(t.redis, t.ca, 'kiln-admin');
    const clients = String(await admin.call('CLIENT', 'LIST'));
    admin.disconnect();
    assert.match(clients, /name=kiln-gateway .*user=kiln-gateway/);
    assert.match(clients, /name=kiln-builder .*user=kiln-builder-dev0/);
  });

  it('no client certificate, one of another CA, or an expired one: refused with the reason', async () => {
    const run = (env: NodeJS.ProcessEnv) =>
      kiln(['farm', 'status'], {
        url: t.farm.url,
        cwd: t.dir,
        env: { ...t.clientEnv(t.ca.issue('x', '/CN=x')), ...env },
      });
    const none = await run({ KILN_TLS_CERT: '', KILN_TLS_KEY: '' });
    assert.equal(none.code, 1);
    assert.match(none.stderr, /missing credential: .*client certificate/);
    const stranger = t.pki.ca('stranger-ca').issue('mallory', '/CN=mallory/O=dev');
    const foreign = await run({ KILN_TLS_CERT: stranger.cert, KILN_TLS_KEY: stranger.key });
    assert.equal(foreign.code, 1);
    assert.match(foreign.stderr, /client certificate rejected: UNABLE_TO_VERIFY_LEAF_SIGNATURE/);
    const old = t.ca.issue('old', '/CN=old/O=dev', { days: -1 });
    const expired = await run({ KILN_TLS_CERT: old.cert, KILN_TLS_KEY: old.key });
    assert.equal(expired.code, 1);
    assert.match(expired.stderr, /client certificate rejected: CERT_HAS_EXPIRED/);
  });

  it("a client that does not trust the store's CA is told which setting to make", async () => {
    await writeFile(join(src, 'new.c'), `int fresh_${Date.now()};\n`); // a blob the store lacks
    const other = t.pki.ca('not-the-store-ca');
    const r = await kiln(['run', '--input', 'src', '--', 'true'], {
      url: t.farm.url,
      cwd: t.dir,
      env: { ...t.clientEnv(t.ca.issue('bob', '/CN=bob/O=dev')), KILN_TLS_STORE_CA: other.cert },
    });
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /cannot reach https:\/\/127\.0\.0\.1:\d+ \((UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN)\); its TLS certificate is not trusted: set KILN_TLS_STORE_CA/,
    );
  });

  it('a gateway without storage.ca answers with what to configure', async () => {
    const cfg = gatewayConfigSchema.parse({
      listen: { port: 0 },
      redis: t.redisConfig('kiln-gateway'),
      storage: s3Storage(t.s3),
      auth: { methods: [{ type: 'insecure', sub: 'x', tenant: 'dev' }] },
    });
    const gw = await wireGateway(cfg, () => undefined);
    try {
      const res = await gw.app.request('/api/v1/blobs/missing', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ blobs: [{ digest: 'a'.repeat(64), size: 1 }] }),
      });
      const body = (await res.json()) as { error: { code: string; message: string } };
      assert.equal(res.status, 500, JSON.stringify(body));
      assert.equal(body.error.code, 'ERR_CONFIG');
      assert.match(
        body.error.message,
        /the store's TLS certificate is not trusted \(UNABLE_TO_VERIFY_LEAF_SIGNATURE\); set storage\.ca/,
      );
    } finally {
      await gw.close();
    }
  });
});
