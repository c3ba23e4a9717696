/**
 * Hostile tenant at the gateway's door: malformed and oversized requests, limits above the
 * farm's maxima, slow and vanishing clients. A real farm (redis-server, local store, a bwrap
 * builder, the Node gateway on a socket), so a request let through would really run.
 */
import { describe } from 'node:test';
import { connect, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { api, codeOf } from '../helpers/http.ts';
import { jobError, said, useHostileFarm } from './farm.ts';
import { hostileSuite, tried, type Try } from './tally.ts';

const suite = hostileSuite('door');
const REQUEST_TIMEOUT_MS = 1500;
const CONNECTION_CAP = 6;

function open(url: string): Promise<Socket> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const s = connect(Number(u.port), u.hostname, () => resolve(s));
    s.once('error', reject);
  });
}

/** Everything the server sends until it closes the connection, or null if it is still open after `ms`. */
function untilClosed(s: Socket, ms: number): Promise<string | null> {
  return new Promise((resolve) => {
    let got = '';
    const t = setTimeout(() => {
      s.destroy();
      resolve(null);
    }, ms);
    s.on('data', (d: Buffer) => (got += d.toString()));
    s.on('error', () => undefined);
    s.once('close', () => {
      clearTimeout(t);
      resolve(got);
    });
  });
}

/** True when a raw HTTP answer has a JSON `{error:{code,message}}` body. */
function jsonError(raw: string): boolean {
  const body = raw.split('\r\n\r\n')[1] ?? '';
  try {
    const e = (JSON.parse(body) as { error?: { code?: unknown; message?: unknown } }).error;
    return typeof e?.code === 'string' && typeof e.message === 'string';
  } catch {
    return false;
  }
}

describe('hostile tenant: at the door', { concurrency: 1, timeout: 180_000 }, () => {
  const h = useHostileFarm({
    slots: 2,
    limits: { requestTimeoutMs: REQUEST_TIMEOUT_MS, maxConnectionsPerClient: CONNECTION_CAP },
    // "ghost" passes the door but no builder has it: what does the builder's refusal show?
    policy: { profiles: ['default', 'ghost'] },
  });

  /** Each spec must be refused with 400 ERR_VALIDATION (a 201 would have run it). */
  const refused400 = async (cases: [string, unknown][], why?: RegExp): Promise<Try[]> => {
    const out: Try[] = [];
    for (const [what, spec] of cases) {
      const r = await api(h.acme(), '/api/v1/jobs', {
        method: 'POST',
        ...(typeof spec === 'string'
          ? { body: spec, headers: { 'Content-Type': 'application/json' } }
          : { json: spec }),
      });
      const msg = (r.body as { error?: { message?: string } } | null)?.error?.message ?? '';
      const ok = r.status === 400 && codeOf(r.body) === 'ERR_VALIDATION' && (!why || why.test(msg));
      out.push(tried(what, ok, said(r.status, r.body)));
    }
    return out;
  };

  suite.attack('blobs-missing-flood', async () => {
    const digests = (n: number): { digest: string; size: number }[] =>
      Array.from({ length: n }, (_, i) => ({ digest: i.toString(16).padStart(64, '0'), size: 1 }));
    const post = (n: number): ReturnType<typeof api> =>
      api(h.acme(), '/api/v1/blobs/missing', { method: 'POST', json: { blobs: digests(n) } });
    const big = await post(100_000);
    const atMax = post(4096);
    const t0 = Date.now();
    const health = await fetch(`${h.farm().url}/healthz`);
    const healthMs = Date.now() - t0;
    const max = await atMax;
    return [
      tried(
        '100,000 digests in one request',
        big.status === 400 && codeOf(big.body) === 'ERR_VALIDATION',
        said(big.status, big.body),
      ),
      tried(
        '/healthz while 4096 digests (the maximum) are looked up',
        health.status === 200 && max.status === 200,
        `healthz ${health.status} in ${healthMs} ms; blobs/missing ${max.status}`,
      ),
    ];
  });

  suite.attack('limits-above-maximum', async () =>
    refused400(
      [
        ['timeoutSec 86400 (24 h)', { argv: ['true'], limits: { timeoutSec: 86_400 } }],
        ['memoryMiB 1048576 (1 TiB)', { argv: ['true'], limits: { memoryMiB: 1_048_576 } }],
        ['pids 65536', { argv: ['true'], limits: { pids: 65_536 } }],
        ['logBytes 2 GiB', { argv: ['true'], limits: { logBytes: 2 ** 31 } }],
        ['outputBytes 1 TiB', { argv: ['true'], limits: { outputBytes: 2 ** 40 } }],
        ['cpus 1024', { argv: ['true'], limits: { cpus: 1024 } }],
      ],
      /is above the maximum/,
    ),
  );

  suite.attack('nul-bytes', async () =>
    refused400([
      ['NUL in argv', { argv: ['echo', 'a\u0000b'] }],
      ['NUL in an env value', { argv: ['true'], env: { A: 'x\u0000y' } }],
      ['NUL in an env name', { argv: ['true'], env: { 'A\u0000B': 'x' } }],
      ['NUL in cwd', { argv: ['true'], cwd: 'a\u0000b' }],
      ['NUL in an output path', { argv: ['true'], outputs: ['a\u0000b'] }],
      ['NUL in an inline path', { argv: ['true'], inline: [{ path: 'a\u0000b', data: '' }] }],
    ]),
  );

  suite.attack('argv-env-e2big', async () => {
    const tries = await refused400([
      ['one argument of 128 KiB', { argv: ['echo', 'x'.repeat(128 * 1024)] }],
      ['argv of 6 × 100 KB', { argv: ['echo', ...Array(6).fill('y'.repeat(100_000))] }],
      ['one env value of 128 KiB', { argv: ['true'], env: { BIG: 'z'.repeat(128 * 1024) } }],
      [
        'env of 6 × 100 KB',
        {
          argv: ['true'],
          env: Object.fromEntries(Array.from({ length: 6 }, (_, i) => [`E${i}`, 'e'.repeat(100_000)])),
        },
      ],
    ]);
    // Just under the door's bound must run, not fail on the builder with E2BIG.
    const near = await h.run(h.acme(), {
      argv: ['sh', '-c', 'echo ran', ...Array(4).fill('n'.repeat(120_000))],
      env: { NEAR: 'v'.repeat(30_000) },
    });
    tries.push(
      tried(
        'argv + env just under the bound (510 KB): runs, no E2BIG',
        near.status === 201 && near.job?.state === 'succeeded' && near.stdout === 'ran\n',
        near.job ? `${String(near.job.state)} ${jobError(near.job) ?? ''}` : said(near.status, near.body),
      ),
    );
    return tries;
  });

  suite.attack('bad-base64', async () =>
    refused400([
      ['characters outside base64', { argv: ['true'], inline: [{ path: 'f', data: 'not base64!' }] }],
      ['unpadded', { argv: ['true'], inline: [{ path: 'f', data: 'YWJjZA' }] }],
      ['with whitespace', { argv: ['true'], inline: [{ path: 'f', data: 'YWJj ZA==' }] }],
      ['base64url alphabet', { argv: ['true'], inline: [{ path: 'f', data: '-_-_' }] }],
    ]),
  );

  suite.attack('reserved-env-keys', async () =>
    refused400([
      ['__proto__', '{"argv":["true"],"env":{"__proto__":"x","A":"1"}}'],
      ['constructor', '{"argv":["true"],"env":{"constructor":"x"}}'],
      ['prototype', '{"argv":["true"],"env":{"prototype":"x"}}'],
    ]),
  );

  suite.attack('long-url', async () => {
    const out: Try[] = [];
    // 60 KB passes Node's own header limit (the parser refuses it); 10 KB is under that limit but
    // over the gateway's limits.maxUrlBytes (8 KiB by default).
    for (const n of [60_000, 10_000]) {
      const r = await fetch(`${h.farm().url}/api/v1/jobs/${'a'.repeat(n)}`, {
        headers: { Authorization: `Bearer ${h.acme().token}` },
      });
      const text = await r.text();
      out.push(
        tried(
          `GET with a ${n / 1000} KB path`,
          r.status === 414 && jsonError(`\r\n\r\n${text}`) && text.includes('ERR_URL_TOO_LONG'),
          `${r.status} ${text.slice(0, 120)}`,
        ),
      );
    }
    return out;
  });

  suite.attack('big-header', async () => {
    const r = await fetch(`${h.farm().url}/api/v1/status`, {
      headers: { Authorization: `Bearer ${h.acme().token}`, 'X-Junk': 'j'.repeat(40_000) },
    });
    const text = await r.text();
    return [
      tried(
        'a 40 KB header',
        r.status === 431 && jsonError(`\r\n\r\n${text}`),
        `${r.status} ${text.slice(0, 120)}`,
      ),
    ];
  });

  suite.attack('client-disconnect', async () => {
    const before = h.logs.length;
    const s = await open(h.farm().url);
    const closed = untilClosed(s, 10_000);
    s.write(
      'POST /api/v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
        `Authorization: Bearer ${h.acme().token}\r\nContent-Length: 1000\r\n\r\n{"argv":`,
    );
    s.destroy();
    await closed;
    const health = await fetch(`${h.farm().url}/healthz`);
    const said500 = h.logs.slice(before).filter((l) => /internal error|\n\s+at |^\s+at /.test(l));
    return [
      tried('the gateway still answers', health.status === 200, `healthz ${health.status}`),
      tried(
        'logged as a 500 with a stack',
        said500.length === 0,
        said500.join(' | ').slice(0, 200) || 'not logged as one',
      ),
    ];
  });

  suite.attack('slow-body', async () => {
    const farm = h.farm();
    const s = await open(farm.url);
    const closed = untilClosed(s, REQUEST_TIMEOUT_MS * 20);
    s.write(
      'POST /api/v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
        `Authorization: Bearer ${h.acme().token}\r\nContent-Length: 1000\r\n\r\n{"argv":`,
    );
    const answer = await closed;
    const tries = [
      tried(
        'a body 992 bytes short of its Content-Length',
        answer !== null && /^HTTP\/1\.1 408/.test(answer) && jsonError(answer),
        answer === null ? `still held after ${REQUEST_TIMEOUT_MS * 20} ms` : answer.split('\r\n')[0],
      ),
    ];
    // More connections than the cap, each held open after one answered request (keep-alive):
    // once the cap is reached, a new connection is closed without an answer.
    const held: Socket[] = [];
    let answered = 0;
    let cut = 0;
    for (let i = 0; i < CONNECTION_CAP + 2; i++) {
      const c = await open(farm.url);
      held.push(c);
      const got = await new Promise<string>((resolve) => {
        let buf = '';
        c.on('error', () => undefined);
        c.on('data', (d: Buffer) => {
          buf += d.toString();
          if (buf.includes('\r\n\r\n')) resolve(buf);
        });
        c.once('close', () => resolve(buf));
        c.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
      });
      if (got.startsWith('HTTP/1.1 200')) answered++;
      else if (got === '') cut++;
    }
    for (const c of held) c.destroy();
    tries.push(
      tried(
        `${CONNECTION_CAP + 2} connections held open from one address (cap ${CONNECTION_CAP})`,
        cut >= 2 && answered <= CONNECTION_CAP,
        `${answered} answered, ${cut} closed unanswered`,
      ),
    );
    return tries;
  });

  suite.attack('profile-path-leak', async () => {
    const farm = h.farm();
    const out: Try[] = [];
    for (const profile of ['nosuch', `p-${randomBytes(4).toString('hex')}`, '../../etc/passwd']) {
      const r = await api(h.acme(), '/api/v1/jobs', { method: 'POST', json: { argv: ['true'], profile } });
      const msg = JSON.stringify(r.body);
      const leaks = [farm.dataDir, process.cwd(), 'bwrap-profiles', '.json'].filter((p) => msg.includes(p));
      out.push(
        tried(
          `profile ${JSON.stringify(profile)}`,
          r.status === 400 && leaks.length === 0,
          leaks.length ? `shows ${leaks.join(', ')}` : said(r.status, r.body),
        ),
      );
    }
    const ghost = await h.run(h.acme(), { argv: ['true'], profile: 'ghost' });
    const shown = JSON.stringify(ghost.job) + ghost.stderr;
    const leaks = [farm.dataDir, process.cwd(), 'bwrap-profiles', '.json'].filter((p) => shown.includes(p));
    out.push(
      tried(
        'a profile the policy lists but the builder lacks',
        ghost.job !== null && ghost.job.state !== 'succeeded' && leaks.length === 0,
        leaks.length ? `shows ${leaks.join(', ')}` : `${String(ghost.job?.state)} ${ghost.stderr.trim()}`,
      ),
    );
    return out;
  });
});

suite.finish();
