/**
 * client/http.ts to a gateway over TLS with a client certificate: calls in a row reuse one TLS
 * connection (a keep-alive agent per TLS setting, as over plain HTTP), each one still presenting
 * the client certificate; another certificate gets a connection of its own.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { send, type Api } from '../../client/http.ts';
import { makePki, type Pki } from '../helpers/pki.ts';

describe('kiln HTTP client to a TLS gateway', () => {
  let pki: Pki;
  let server: Server;
  let base: string;
  let handshakes = 0;
  const seen: string[] = [];
  const tlsOf = (name: string, ca: ReturnType<Pki['ca']>) => {
    const c = ca.issue(name, `/CN=${name}`);
    return { ca: readFileSync(ca.cert), cert: readFileSync(c.cert), key: readFileSync(c.key) };
  };
  let farmCa: ReturnType<Pki['ca']>;

  before(async () => {
    pki = makePki();
    farmCa = pki.ca('farm');
    const srv = farmCa.issue('gateway', '/CN=127.0.0.1', { server: true });
    server = createServer(
      {
        cert: readFileSync(srv.cert),
        key: readFileSync(srv.key),
        ca: readFileSync(farmCa.cert),
        requestCert: true,
        rejectUnauthorized: true,
      },
      (req, res) => {
        seen.push(String((req.socket as TLSSocket).getPeerCertificate().subject?.CN));
        res.setHeader('content-type', 'application/json');
        res.end('{"ok":true}');
      },
    );
    server.on('secureConnection', () => handshakes++);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    server?.closeAllConnections();
    server?.close();
    pki?.remove();
  });

  it('reuses one connection for calls in a row, each with the client certificate', async () => {
    const api: Api = { base, token: 't', tls: tlsOf('alice', farmCa) };
    for (let i = 0; i < 4; i++) {
      const a = await send(api, '/api/v1/health');
      assert.equal(a.status, 200);
      assert.deepEqual(await a.json(), { ok: true });
    }
    assert.deepEqual(seen, ['alice', 'alice', 'alice', 'alice']);
    assert.equal(handshakes, 1, 'one TLS handshake for four calls');
  });

  it('another client certificate gets its own connection', async () => {
    const before = handshakes;
    const bob: Api = { base, token: 't', tls: tlsOf('bob', farmCa) };
    const a = await send(bob, '/api/v1/health');
    await a.bytes();
    assert.equal(seen.at(-1), 'bob');
    assert.equal(handshakes, before + 1);
  });
});
