/**
 * The Node gateway bounds every connection: a body shorter than its Content-Length is cut off at
 * the request timeout (not held for minutes), and one client address cannot open more than its
 * connection cap. Real sockets against the real gateway of a dev farm.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { startDevFarm, type DevFarm } from '../../wiring/dev-farm.ts';
import { farmRedis } from '../helpers/redis-mode.ts';

function open(url: string): Promise<Socket> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const s = connect(Number(u.port), u.hostname, () => resolve(s));
    s.once('error', reject);
  });
}

/** Everything the server sends until it closes the connection. */
function untilClosed(s: Socket): Promise<string> {
  return new Promise((resolve) => {
    let got = '';
    s.on('data', (d: Buffer) => (got += d.toString()));
    s.on('error', () => undefined);
    s.once('close', () => resolve(got));
  });
}

describe('gateway connection bounds (Node)', { timeout: 60_000 }, () => {
  let farm: DevFarm;
  const logs: string[] = [];
  before(async () => {
    farm = await startDevFarm({
      ...farmRedis,
      log: (m) => logs.push(m),
      builders: 0,
      port: 0,
      limits: { requestTimeoutMs: 1500, maxConnectionsPerClient: 4 },
    });
  });
  after(async () => {
    await farm?.stop();
  });

  it('cuts off a body shorter than its Content-Length at the request timeout', async () => {
    const s = await open(farm.url);
    const closed = untilClosed(s);
    s.write(
      'POST /api/v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
        `Authorization: Bearer ${farm.token}\r\nContent-Length: 1000\r\n\r\n{"argv":`,
    );
    const t0 = Date.now();
    const answer = await closed;
    const held = Date.now() - t0;
    assert.match(answer, /^HTTP\/1\.1 408/, answer.slice(0, 200));
    assert.match(answer, /"code":"ERR_REQUEST_TIMEOUT"/);
    assert.ok(held < 20_000, `held ${held} ms, not the 300 s of Node's default`);
  });

  it('logs a client that goes away mid-body as that, not as a 500 with a stack', async () => {
    const s = await open(farm.url);
    const closed = untilClosed(s);
    s.write(
      'POST /api/v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
        `Authorization: Bearer ${farm.token}\r\nContent-Length: 1000\r\n\r\n{"argv":`,
    );
    s.destroy();
    await closed;
    const res = await fetch(`${farm.url}/healthz`);
    assert.equal(res.status, 200);
    assert.ok(!logs.some((l) => /internal error/.test(l)), logs.join('\n'));
  });

  it('answers a URL past the parser limit with 414 and oversize headers with 431, both JSON', async () => {
    const ask = async (head: string): Promise<string> => {
      const s = await open(farm.url);
      const closed = untilClosed(s);
      s.write(`${head}\r\n\r\n`);
      return closed;
    };
    const url = await ask(`GET /api/v1/jobs/${'a'.repeat(60_000)} HTTP/1.1\r\nHost: x`);
    assert.match(url, /^HTTP\/1\.1 414 /, url.slice(0, 200));
    assert.match(url, /\{"error":\{"code":"ERR_URL_TOO_LONG","message":"[^"]+"\}\}$/);
    const headers = await ask(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(60_000)}`);
    assert.match(headers, /^HTTP\/1\.1 431 /, headers.slice(0, 200));
    assert.match(headers, /"code":"ERR_HEADERS_TOO_LARGE"/);
  });

  it('closes connections over the per-client cap at once', async () => {
    const held = await Promise.all(Array.from({ length: 4 }, () => open(farm.url)));
    const extra = await open(farm.url);
    const got = await untilClosed(extra);
    assert.equal(got, '', 'the fifth connection is closed without an answer');
    for (const s of held) s.destroy();
  });
});
