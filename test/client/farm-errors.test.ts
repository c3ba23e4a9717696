/**
 * The client's errors end to end, with the CLI run in-process and its stdout/stderr compared:
 * a real gateway's coded refusals (redis-server, no builder needed), a server that misbehaves
 * (an HTML 502 page, a reset connection, no answer, a code this client does not know), and
 * kiln cc's fallback to a local gcc counted under the reason each farm failure maps to.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readStats } from '../../client/cc/stats.ts';
import { startDevFarm, type DevFarm } from '../../wiring/dev-farm.ts';
import { kiln } from '../helpers/cli.ts';

type Behaviour = (req: IncomingMessage, res: ServerResponse) => void;

/** A server on 127.0.0.1 whose answer to every request is `behave`'s (switchable per test). */
async function misbehaving(): Promise<{ url: string; set(b: Behaviour): void; close(): Promise<void> }> {
  let behave: Behaviour = (_req, res) => res.end();
  const sockets = new Set<Socket>();
  const server: Server = createServer((req, res) => {
    req.resume();
    behave(req, res);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    set: (b) => void (behave = b),
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

const json =
  (status: number, body: unknown): Behaviour =>
  (_req, res) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
const htmlPage: Behaviour = (_req, res) => {
  res.writeHead(502, { 'content-type': 'text/html' });
  res.end('<html><body>Bad Gateway</body></html>');
};
const reset: Behaviour = (req) => req.socket.destroy();
const silent: Behaviour = () => undefined;

describe('client errors', { timeout: 60_000 }, () => {
  let farm: DevFarm;
  let bad: Awaited<ReturnType<typeof misbehaving>>;
  let work: string;

  before(async () => {
    farm = await startDevFarm({ builders: 0, port: 0 });
    bad = await misbehaving();
    work = await mkdtemp(join(tmpdir(), 'kiln-client-errors-'));
  });
  after(async () => {
    await bad?.close();
    await farm?.stop();
    await rm(work, { recursive: true, force: true });
  });

  it('a gateway refusal prints its message and code, exit 1', async () => {
    const r = await kiln(['status', 'no-such-job'], { url: farm.url, token: farm.token, cwd: work });
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, 'kiln: no job no-such-job (ERR_JOB_NOT_FOUND)\n');
  });

  it('a bad token says what to set', async () => {
    const r = await kiln(['farm', 'status'], { url: farm.url, token: 'not-a-token', cwd: work });
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /^kiln: .*\(ERR_(UNAUTHENTICATED|TOKEN_INVALID)\); .*set KILN_TOKEN \(kiln dev prints it\).*\n$/,
    );
  });

  it('no gateway configured: what to set', async () => {
    const r = await kiln(['status', 'x'], { cwd: work, env: { HOME: work } });
    assert.deepEqual(r, {
      code: 1,
      stdout: '',
      stderr:
        'kiln: no gateway configured: set KILN_GATEWAY (kiln dev prints it) or `gateway = "https://…"` in kiln.toml\n',
    });
  });

  it('a kiln.toml with bad keys lists every problem with its key', async () => {
    const dir = join(work, 'bad-toml');
    await mkdir(dir);
    await writeFile(join(dir, 'kiln.toml'), 'gateway = 5\ntoken = ""\nplatform = "linux-x86_64"\n');
    const r = await kiln(['status', 'x'], { cwd: dir, env: { HOME: work } });
    assert.deepEqual(r, {
      code: 1,
      stdout: '',
      stderr:
        `kiln: problems in ${join(dir, 'kiln.toml')}:\n` +
        '  gateway: must be an http(s) URL, such as "https://kiln.example.com"\n' +
        '  token: must be a non-empty string\n',
    });
  });

  it('nothing listening: ERR_UNREACHABLE, never a stack', async () => {
    const closed = await misbehaving();
    await closed.close();
    const r = await kiln(['status', 'x'], { url: closed.url, cwd: work, env: { KILN_RETRY_SEC: '0' } });
    assert.deepEqual(r, {
      code: 1,
      stdout: '',
      stderr: `kiln: cannot reach the kiln gateway at ${closed.url} (ECONNREFUSED); is it running? (kiln dev prints the address to set as KILN_GATEWAY)\n`,
    });
  });

  it('answers that are not kiln’s: an HTML 502, a reset, an unknown code', async () => {
    const opts = { url: bad.url, cwd: work, env: { KILN_RETRY_SEC: '0' } };
    bad.set(htmlPage);
    let r = await kiln(['status', 'j1'], opts);
    assert.deepEqual(r, { code: 1, stdout: '', stderr: 'kiln: GET /api/v1/jobs/j1 failed: HTTP 502\n' });
    bad.set(reset);
    r = await kiln(['status', 'j1'], opts);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^kiln: cannot reach the kiln gateway at .* \(ECONNRESET\); is it running\?/);
    bad.set(json(418, { error: { code: 'ERR_TEAPOT', message: 'a newer gateway said so' } }));
    r = await kiln(['status', 'j1'], opts);
    assert.deepEqual(r, { code: 1, stdout: '', stderr: 'kiln: a newer gateway said so (ERR_TEAPOT)\n' });
  });

  it('a 503 with Retry-After is waited out, with a notice on stderr', async () => {
    let asked = 0;
    const job = { id: 'j2', state: 'succeeded', exitCode: 0, argv: ['true'], builder: 'b', attempt: 1 };
    bad.set((req, res) => {
      asked++;
      if (asked < 3) {
        res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '0' });
        res.end(JSON.stringify({ error: { code: 'ERR_UNAVAILABLE', message: 'redis is down' } }));
      } else json(200, { ...job, createdAt: 't0', finishedAt: 't1', error: null })(req, res);
    });
    const r = await kiln(['status', 'j2'], { url: bad.url, cwd: work });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(asked, 3);
    assert.equal(r.stderr, 'kiln: redis is down (ERR_UNAVAILABLE); retrying\n', 'one notice per 5 s');
    assert.equal(r.stdout.split('\n')[0], 'j2  succeeded (exit 0)');
  });

  it('kiln cc falls back to the local gcc on every farm failure, counted under its reason', async () => {
    const src = join(work, 'cc');
    await mkdir(src);
    await writeFile(join(src, 'a.c'), 'int twice(int x) { return 2 * x; }\n');
    execFileSync('gcc', ['-c', 'a.c', '-o', 'want.o'], { cwd: src });
    const want = await readFile(join(src, 'want.o'));
    const statsFile = join(src, 'stats.json');
    const cases: [string, Behaviour, string][] = [
      [
        'no capacity',
        json(503, { error: { code: 'ERR_NO_CAPACITY', message: 'every builder is busy' } }),
        'no capacity',
      ],
      ['an HTML 502', htmlPage, '5xx'],
      ['a 500 of kiln’s', json(500, { error: { code: 'ERR_INTERNAL', message: 'internal error' } }), '5xx'],
      ['a reset', reset, 'unreachable'],
      ['no answer', silent, 'timeout'],
      ['a 400', json(400, { error: { code: 'ERR_VALIDATION', message: 'argv: required' } }), 'other'],
      [
        'a job the farm failed',
        json(201, {
          job: {
            id: 'j',
            state: 'failed',
            exitCode: null,
            error: { code: 'ERR_OOM', message: 'memory limit' },
          },
          token: 't',
        }),
        'other',
      ],
    ];
    for (const [what, behave, reason] of cases) {
      bad.set(behave);
      await rm(join(src, 'a.o'), { force: true });
      const before = readStats({ file: statsFile }).fallbackReasons[reason] ?? 0;
      const r = await kiln(['cc', 'gcc', '-c', 'a.c', '-o', 'a.o'], {
        url: bad.url,
        cwd: src,
        env: { KILN_STATS_FILE: statsFile, KILN_CC_TIMEOUT: '1', KILN_CC_VERBOSE: '1' },
      });
      assert.equal(r.code, 0, `${what}: ${r.stderr}`);
      assert.equal(r.stdout, '');
      assert.match(
        r.stderr,
        new RegExp(`kiln cc: farm failed \\(${reason}: .*\\); compiling locally\\n$`),
        what,
      );
      assert.deepEqual(await readFile(join(src, 'a.o')), want, `${what}: the local gcc's object`);
      assert.equal(readStats({ file: statsFile }).fallbackReasons[reason], before + 1, what);
    }
    const s = readStats({ file: statsFile });
    assert.equal(s.fallbacks, cases.length);
    assert.equal(s.remote, 0);
  });
});
