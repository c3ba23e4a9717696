/**
 * Gateway HTTPS with client certificates (Node adapter, real redis-server, a PKI made with
 * openssl): the verified subject becomes the principal (CN → sub, O → tenant, an admin OU →
 * admin); no certificate, one from another CA and an expired one are refused with a clear JSON
 * error; a bearer token still works beside it; TLS 1.2 is refused by default; a renewed server
 * certificate is served without a restart.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { connect, type SecureVersion } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { serveGatewayNode } from '../../gateway/adapters/node/serve.ts';
import { COMMANDS } from '../../client/commands/index.ts';
import { main } from '../../client/main.ts';
import { Writable } from 'node:stream';
import { gatewayConfigSchema } from '../../gateway/config.ts';
import { startLocalRedis, type LocalRedis } from '../../wiring/redis-server.ts';
import { makePki, type Issued, type Pki, type Ca } from '../helpers/pki.ts';

const TOKEN = 'ci-static-token-' + randomBytes(8).toString('hex');
let pki: Pki;
let ca: Ca;
let redis: LocalRedis;
let dir: string;
let served: { url: string; close(): Promise<void> };
const live = { cert: '', key: '' };
const logged: string[] = [];

before(async () => {
  pki = makePki();
  ca = pki.ca('farm-ca');
  const server = ca.issue('gateway-1', '/CN=kiln gateway', { server: true });
  redis = await startLocalRedis();
  dir = mkdtempSync(join(tmpdir(), 'kiln-mtls-'));
  live.cert = join(dir, 'gateway.crt');
  live.key = join(dir, 'gateway.key');
  copyFileSync(server.cert, live.cert);
  copyFileSync(server.key, live.key);
  const cfg = gatewayConfigSchema.parse({
    listen: {
      host: '127.0.0.1',
      port: 0,
      tls: { cert: live.cert, key: live.key, clientCa: ca.cert, reloadCheckMs: 200 },
    },
    redis: { url: redis.url, prefix: `mtls-${randomBytes(4).toString('hex')}` },
    storage: { type: 'local', dir: join(dir, 'store') },
    auth: {
      methods: [
        { type: 'client_cert', adminOU: 'kiln-admins' },
        { type: 'token', tokens: [{ token: TOKEN, sub: 'ci', tenant: 'acme' }] },
      ],
    },
  });
  served = await serveGatewayNode(cfg, (m) => logged.push(m));
});
after(async () => {
  await served?.close();
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
  pki?.remove();
});

interface Answer {
  status: number;
  body: { error?: { code: string; message: string } } & Record<string, unknown>;
}

/** One HTTPS request trusting the farm CA, with `client` as the client certificate. */
function get(path: string, client?: Issued, opts: { method?: string; token?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${served.url}${path}`,
      {
        method: opts.method ?? 'GET',
        ca: readFileSync(ca.cert),
        ...(client ? { cert: readFileSync(client.cert), key: readFileSync(client.key) } : {}),
        headers: opts.token ? { authorization: `Bearer ${opts.token}` } : {},
        agent: false,
      },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => {
          try {
            resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Answer['body'] });
          } catch {
            reject(new Error(`HTTP ${res.statusCode} without JSON: ${text.slice(0, 200)}`));
          }
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** The fingerprint of the certificate the gateway serves to a new connection. */
function servedFingerprint(maxVersion?: SecureVersion): Promise<string> {
  const { port } = new URL(served.url);
  return new Promise((resolve, reject) => {
    const s = connect(
      {
        host: '127.0.0.1',
        port: Number(port),
        ca: readFileSync(ca.cert),
        ...(maxVersion ? { maxVersion } : {}),
      },
      () => {
        resolve(s.getPeerCertificate().fingerprint256);
        s.end();
      },
    );
    s.on('error', reject);
  });
}

describe('gateway HTTPS with client certificates', () => {
  it('the certificate subject is the principal: CN → sub, O → tenant, the admin OU → admin', async () => {
    const alice = ca.issue('alice', '/CN=alice/O=acme/OU=kiln-admins');
    const bob = ca.issue('bob', '/CN=bob/O=acme/OU=developers');
    assert.equal((await get('/api/v1/status', alice)).status, 200);
    assert.equal((await get('/api/v1/status', bob)).status, 200);
    // Draining is for admins: bob is refused, alice passes to the lookup of the (unknown) builder.
    const asBob = await get('/api/v1/builders/nobody/undrain', bob, { method: 'POST' });
    assert.equal(asBob.status, 403, JSON.stringify(asBob.body));
    const asAlice = await get('/api/v1/builders/nobody/undrain', alice, { method: 'POST' });
    assert.equal(asAlice.status, 404, JSON.stringify(asAlice.body));
  });

  it('no certificate and no bearer is 401; a bearer token alone still works', async () => {
    const none = await get('/api/v1/status');
    assert.equal(none.status, 401);
    assert.equal(none.body.error?.code, 'ERR_UNAUTHENTICATED');
    assert.match(none.body.error?.message ?? '', /client certificate/);
    assert.equal((await get('/api/v1/status', undefined, { token: TOKEN })).status, 200);
  });

  it('a certificate from another CA, or an expired one, is refused with the reason', async () => {
    const stranger = pki.ca('other-ca').issue('mallory', '/CN=mallory/O=acme/OU=kiln-admins');
    const foreign = await get('/api/v1/status', stranger, { token: TOKEN });
    assert.equal(foreign.status, 401, 'a bad certificate is not papered over by the token after it');
    assert.match(
      foreign.body.error?.message ?? '',
      /client certificate rejected: UNABLE_TO_VERIFY_LEAF_SIGNATURE/,
    );
    const expired = await get('/api/v1/status', ca.issue('old', '/CN=old/O=acme', { days: -1 }));
    assert.equal(expired.status, 401);
    assert.match(expired.body.error?.message ?? '', /CERT_HAS_EXPIRED/);
  });

  it('TLS 1.2 is refused by default (TLS 1.3 only)', async () => {
    await assert.rejects(servedFingerprint('TLSv1.2'), /protocol version|alert/i);
  });

  it('a renewed server certificate is served to new connections without a restart', async () => {
    const before = await servedFingerprint();
    const renewed = ca.issue('gateway-2', '/CN=kiln gateway', { server: true });
    copyFileSync(renewed.key, live.key);
    copyFileSync(renewed.cert, live.cert);
    let now = before;
    while (now === before) now = await servedFingerprint(); // each attempt is a new handshake
    assert.notEqual(now, before);
    assert.ok(logged.some((m) => /TLS files reloaded/.test(m)));
  });

  it('kiln sends its client certificate from KILN_TLS_CERT/KEY and trusts the farm CA from KILN_TLS_CA', async () => {
    const carol = ca.issue('carol', '/CN=carol/O=acme');
    const run = async (env: NodeJS.ProcessEnv): Promise<{ code: number; err: string }> => {
      let err = '';
      const sink = (keep: boolean): Writable =>
        new Writable({
          write(chunk: Buffer, _enc, cb) {
            if (keep) err += chunk.toString();
            cb();
          },
        });
      const code = await main(
        ['farm', 'status'],
        {
          stdout: sink(false),
          stderr: sink(true),
          cwd: dir,
          env: {
            HOME: dir,
            KILN_GATEWAY: served.url,
            KILN_CONFIG_DIR: join(dir, 'cfg'),
            KILN_RETRY_SEC: '0',
            ...env,
          },
          signal: new AbortController().signal,
        },
        COMMANDS,
      );
      return { code, err };
    };
    const ok = await run({ KILN_TLS_CA: ca.cert, KILN_TLS_CERT: carol.cert, KILN_TLS_KEY: carol.key });
    assert.equal(ok.code, 0, ok.err);
    const without = await run({ KILN_TLS_CA: ca.cert });
    assert.equal(without.code, 1);
    assert.match(
      without.err,
      /missing credential: send "Authorization: Bearer <token>", or a client certificate/,
    );
    const half = await run({ KILN_TLS_CA: ca.cert, KILN_TLS_CERT: carol.cert });
    assert.equal(half.code, 1);
    assert.match(half.err, /needs both KILN_TLS_CERT and KILN_TLS_KEY/);
  });
});
