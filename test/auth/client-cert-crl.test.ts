/**
 * Revoked client certificates (Node gateway, real redis-server, a CRL made with `openssl ca`): a
 * certificate on `listen.tls.crl` is refused with 401 CERT_REVOKED, others pass, and a new CRL
 * written while the gateway runs is applied without a restart.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { serveGatewayNode } from '../../gateway/adapters/node/serve.ts';
import { gatewayConfigSchema } from '../../gateway/config.ts';
import { startLocalRedis, type LocalRedis } from '../../wiring/redis-server.ts';
import { makePki, type Ca, type Issued, type Pki } from '../helpers/pki.ts';

let pki: Pki;
let ca: Ca;
let redis: LocalRedis;
let dir: string;
let crl: string;
let served: { url: string; close(): Promise<void> };
let mallory: Issued;
let carol: Issued;

before(async () => {
  pki = makePki();
  ca = pki.ca('crl-ca');
  dir = mkdtempSync(join(tmpdir(), 'kiln-crl-'));
  mallory = ca.issue('mallory', '/CN=mallory/O=acme');
  carol = ca.issue('carol', '/CN=carol/O=acme');
  crl = join(dir, 'clients.crl');
  ca.crl(crl, [mallory]);
  const server = ca.issue('gw', '/CN=kiln gateway', { server: true });
  redis = await startLocalRedis();
  const cfg = gatewayConfigSchema.parse({
    listen: {
      host: '127.0.0.1',
      port: 0,
      tls: { cert: server.cert, key: server.key, clientCa: ca.cert, crl, reloadCheckMs: 200 },
    },
    redis: { url: redis.url, prefix: `crl-${randomBytes(4).toString('hex')}` },
    storage: { type: 'local', dir: join(dir, 'store') },
    auth: { methods: [{ type: 'client_cert' }] },
  });
  served = await serveGatewayNode(cfg, () => undefined);
});
after(async () => {
  await served?.close();
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
  pki?.remove();
});

function status(client: Issued): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${served.url}/api/v1/status`,
      {
        ca: readFileSync(ca.cert),
        cert: readFileSync(client.cert),
        key: readFileSync(client.key),
        agent: false,
      },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('revoked client certificates (listen.tls.crl)', () => {
  it('a revoked certificate is refused with CERT_REVOKED; another passes', async () => {
    const bad = await status(mallory);
    assert.equal(bad.status, 401);
    assert.match(bad.text, /client certificate rejected: CERT_REVOKED/);
    assert.equal((await status(carol)).status, 200);
  });

  it('a new CRL is applied without a restart', async () => {
    ca.crl(crl, [mallory, carol]);
    let now = await status(carol);
    while (now.status === 200) now = await status(carol); // each attempt is a new handshake
    assert.equal(now.status, 401);
    assert.match(now.text, /CERT_REVOKED/);
  });
});
