/**
 * The gateway's HTTP API suite: one real farm (redis-server, s3rver, bwrap builder) behind a
 * gateway started by `launcher` — in-process Node, or a Deno process. Every case asserts status,
 * body and, where it matters, what the builder did.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import tar from 'tar-stream';
import { Redis } from 'ioredis';
import { startDevFarm, type DevFarm, type GatewayLauncher } from '../../wiring/dev-farm.ts';
import { redisKeys } from '../../protocol/keys.ts';
import { signJobToken } from '../../protocol/token.ts';
import { startJwksServer, strayKey, type JwksServer } from '../helpers/jwks.ts';
import { s3Storage, startS3rver, type S3rverHandle } from '../helpers/s3rver.ts';
import { api, codeOf, readLog, waitJob, type Client } from '../helpers/http.ts';

const OTHER_TOKEN = 'other-tenant-token-' + randomBytes(8).toString('hex');

function sha(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

async function tarOf(
  entries: { name: string; type?: 'file' | 'symlink'; linkname?: string; body?: string }[],
): Promise<Uint8Array<ArrayBuffer>> {
  const pack = tar.pack();
  for (const e of entries) {
    if (e.type === 'symlink') pack.entry({ name: e.name, type: 'symlink', linkname: e.linkname });
    else pack.entry({ name: e.name }, e.body ?? '');
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack as AsyncIterable<Buffer>) chunks.push(c);
  return new Uint8Array(Buffer.concat(chunks));
}

/** Registers the suite; `label` names the runtime in test titles. */
export function gatewayApiSuite(label: string, launcher?: GatewayLauncher): void {
  describe(`gateway HTTP API on ${label}`, { timeout: 170_000 }, () => {
    let farm: DevFarm;
    let jwks: JwksServer;
    let s3: S3rverHandle;
    let c: Client;
    let other: Client;

    before(async () => {
      jwks = await startJwksServer();
      s3 = await startS3rver();
      farm = await startDevFarm({
        s3: s3Storage(s3),
        builders: 1,
        slots: 3,
        port: 0,
        leaseMs: 3000,
        limits: { maxInlineBlobBytes: 256 * 1024, placementWaitMs: 500 },
        authMethods: [
          {
            type: 'jwt',
            jwksUrl: jwks.url,
            issuer: jwks.issuer,
            audience: jwks.audience,
            tenantClaim: 'tenant',
            cooldownSec: 0,
          },
          { type: 'token', tokens: [{ token: OTHER_TOKEN, sub: 'eve', tenant: 'other' }] },
        ],
        ...(launcher ? { serveGateway: launcher } : {}),
      });
      c = { url: farm.url, token: farm.token };
      other = { url: farm.url, token: OTHER_TOKEN };
    });
    after(async () => {
      await farm?.stop();
      await jwks?.stop();
      await s3?.stop();
    });

    it('answers health, readiness and status', async () => {
      assert.equal((await api(c, '/healthz')).status, 200);
      const ready = await api(c, '/readyz');
      assert.equal(ready.status, 200, JSON.stringify(ready.body));
      const s = await api(c, '/api/v1/status');
      assert.equal(s.status, 200);
      const builders = (s.body as { builders: { platform: string; live: boolean }[] }).builders;
      assert.equal(builders.length, 1);
      assert.equal(builders[0]!.live, true);
      const m = await fetch(farm.url + '/metrics');
      assert.match(await m.text(), /kiln_builders_live 1/);
    });

    it('runs a job and propagates its exit code and output', async () => {
      const r = await api(c, '/api/v1/jobs', {
        method: 'POST',
        json: { argv: ['sh', '-c', 'echo out; echo err >&2; exit 3'] },
      });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      const id = (r.body as { job: { id: string } }).job.id;
      const job = await waitJob(c, id);
      assert.equal(job.state, 'failed');
      assert.equal(job.exitCode, 3);
      const log = await readLog(c, id, false);
      assert.equal(log.stdout, 'out\n');
      assert.equal(log.stderr, 'err\n');
      assert.deepEqual(log.lines.at(-1), { end: true, state: 'failed', exitCode: 3 });
    });

    it('rejects bad input with 4xx and a code', async () => {
      const bad = async (
        init: RequestInit & { json?: unknown },
        status: number,
        code: string,
      ): Promise<void> => {
        const r = await api(c, '/api/v1/jobs', { method: 'POST', ...init });
        assert.equal(r.status, status, JSON.stringify(r.body));
        assert.equal(codeOf(r.body), code);
      };
      await bad({ body: '{"argv": [', headers: { 'Content-Type': 'application/json' } }, 400, 'ERR_BAD_JSON');
      await bad({ json: { argv: ['true'], colour: 'blue' } }, 400, 'ERR_VALIDATION');
      await bad({ json: { argv: 'true' } }, 400, 'ERR_VALIDATION');
      await bad({ json: { argv: ['true'], limits: { timeoutSec: 'soon' } } }, 400, 'ERR_VALIDATION');
      await bad({ json: { argv: ['true'], outputs: ['../etc/passwd'] } }, 400, 'ERR_VALIDATION');
      await bad(
        { json: { argv: ['x'.repeat(100)], env: { PAD: 'y'.repeat(17_000_000) } } },
        413,
        'ERR_TOO_LARGE',
      );
      await bad(
        { json: { argv: ['true'], input: { digest: 'a'.repeat(64), size: 1 } } },
        409,
        'ERR_BLOBS_MISSING',
      );
      const nf = await api(c, '/api/v1/nothing-here');
      assert.equal(nf.status, 404);
      assert.equal(codeOf(nf.body), 'ERR_NOT_FOUND');
    });

    it('checks blob digests and sizes', async () => {
      const bytes = new Uint8Array(randomBytes(1000));
      const wrong = await api(c, `/api/v1/blobs/${'0'.repeat(64)}`, { method: 'PUT', body: bytes });
      assert.equal(wrong.status, 400);
      assert.equal(codeOf(wrong.body), 'ERR_DIGEST_MISMATCH');
      const big = new Uint8Array(300 * 1024);
      const tooBig = await api(c, `/api/v1/blobs/${sha(big)}`, { method: 'PUT', body: big });
      assert.equal(tooBig.status, 413);
      const d = sha(bytes);
      const missing = await api(c, '/api/v1/blobs/missing', {
        method: 'POST',
        json: { blobs: [{ digest: d, size: 1000 }] },
      });
      assert.deepEqual((missing.body as { missing: string[] }).missing, [d]);
      assert.equal((await api(c, `/api/v1/blobs/${d}`, { method: 'PUT', body: bytes })).status, 201);
      const again = await api(c, '/api/v1/blobs/missing', {
        method: 'POST',
        json: { blobs: [{ digest: d, size: 1000 }] },
      });
      assert.deepEqual((again.body as { missing: string[] }).missing, []);
      // Another tenant does not see this tenant's blob.
      const theirs = await api(other, '/api/v1/blobs/missing', {
        method: 'POST',
        json: { blobs: [{ digest: d, size: 1000 }] },
      });
      assert.deepEqual((theirs.body as { missing: string[] }).missing, [d]);
    });

    it('accepts a JWT from the JWKS server and rejects bad ones with 401', async () => {
      const good = await jwks.sign({ sub: 'alice', tenant: 'dev' });
      const ok = await api({ url: farm.url, token: good }, '/api/v1/status');
      assert.equal(ok.status, 200);
      const stray = await strayKey();
      const cases: [string, string][] = [
        ['alg none', await jwks.sign({ sub: 'a', tenant: 'dev' }, { alg: 'none' })],
        [
          'HS256 with the RSA public key',
          await jwks.sign({ sub: 'a', tenant: 'dev' }, { alg: 'HS256-public' }),
        ],
        ['expired', await jwks.sign({ sub: 'a', tenant: 'dev' }, { expInSec: -3600 })],
        ['no exp', await jwks.sign({ sub: 'a', tenant: 'dev' }, { expInSec: null })],
        ['wrong aud', await jwks.sign({ sub: 'a', tenant: 'dev' }, { aud: 'someone-else' })],
        ['wrong iss', await jwks.sign({ sub: 'a', tenant: 'dev' }, { iss: 'https://evil.example' })],
        ['unknown kid', await jwks.sign({ sub: 'a', tenant: 'dev' }, { kid: 'nope', privateKey: stray })],
        ['tampered', tamper(good)],
        ['no credential', ''],
      ];
      for (const [what, token] of cases) {
        const r = await fetch(farm.url + '/api/v1/jobs', {
          method: 'POST',
          headers: {
            'Content-Type': 'application/json',
            ...(token ? { Authorization: `Bearer ${token}` } : {}),
          },
          body: JSON.stringify({ argv: ['true'] }),
        });
        assert.equal(r.status, 401, `${what}: ${r.status}`);
        assert.equal(codeOf(await r.json()), 'ERR_UNAUTHENTICATED', what);
      }
    });

    it('scopes jobs: a job token works only for its job, another tenant gets 404', async () => {
      const a = (await api(c, '/api/v1/jobs', { method: 'POST', json: { argv: ['true'] } })).body as {
        job: { id: string };
        token: string;
      };
      const b = (await api(c, '/api/v1/jobs', { method: 'POST', json: { argv: ['true'] } })).body as {
        job: { id: string };
        token: string;
      };
      await waitJob(c, a.job.id);
      await waitJob(c, b.job.id);
      const own = await api({ url: farm.url, token: a.token }, `/api/v1/jobs/${a.job.id}`);
      assert.equal(own.status, 200);
      const cross = await api({ url: farm.url, token: a.token }, `/api/v1/jobs/${b.job.id}`);
      assert.equal(cross.status, 401);
      assert.equal(codeOf(cross.body), 'ERR_TOKEN_INVALID');
      const crossStop = await api({ url: farm.url, token: a.token }, `/api/v1/jobs/${b.job.id}/cancel`, {
        method: 'POST',
      });
      assert.equal(crossStop.status, 401);
      const theirs = await api(other, `/api/v1/jobs/${a.job.id}`);
      assert.equal(theirs.status, 404);
      assert.equal((await api(other, `/api/v1/jobs/${a.job.id}`, { method: 'DELETE' })).status, 404);
      assert.equal((await api(c, `/api/v1/jobs/${a.job.id}`, { method: 'DELETE' })).status, 204);
      assert.equal((await api(c, `/api/v1/jobs/${a.job.id}`)).status, 404);
    });

    it('streams logs live to concurrent followers, each from the start', async () => {
      const script = 'for i in 1 2 3 4 5 6; do echo line $i; sleep 0.5; done';
      const r = (await api(c, '/api/v1/jobs', { method: 'POST', json: { argv: ['sh', '-c', script] } }))
        .body as { job: { id: string } };
      const id = r.job.id;
      // The first reader starts at once; the second joins while the job is running.
      const first = readLog(c, id);
      await new Promise((res) => setTimeout(res, 1200));
      const mid = await api(c, `/api/v1/jobs/${id}`);
      assert.equal((mid.body as { state: string }).state, 'running');
      const second = readLog(c, id);
      const expected = [1, 2, 3, 4, 5, 6].map((i) => `line ${i}\n`).join('');
      assert.equal((await first).stdout, expected);
      assert.equal((await second).stdout, expected);
    });

    it('stops a job that ignores SIGTERM after the grace period: killed', async () => {
      const r = (
        await api(c, '/api/v1/jobs', {
          method: 'POST',
          json: { argv: ['sh', '-c', "trap '' TERM; echo started; sleep 600"], limits: { graceSec: 1 } },
        })
      ).body as { job: { id: string } };
      const id = r.job.id;
      for (
        let j = await api(c, `/api/v1/jobs/${id}`);
        (j.body as { state: string }).state !== 'running';
        j = await api(c, `/api/v1/jobs/${id}`)
      ) {
        await new Promise((res) => setTimeout(res, 100));
      }
      const stop = await api(c, `/api/v1/jobs/${id}/cancel`, { method: 'POST' });
      assert.equal(stop.status, 202);
      const job = await waitJob(c, id);
      assert.equal(job.state, 'killed');
    });

    it('ends a job over its time limit as timed_out', async () => {
      const r = (
        await api(c, '/api/v1/jobs', {
          method: 'POST',
          json: { argv: ['sleep', '60'], limits: { timeoutSec: 1, graceSec: 1 } },
        })
      ).body as {
        job: { id: string };
      };
      const job = await waitJob(c, r.job.id);
      assert.equal(job.state, 'timed_out');
    });

    it('refuses input archives that escape the job directory, writing nothing outside', async () => {
      const marker = `escaped-${randomBytes(4).toString('hex')}`;
      const archives = [
        await tarOf([{ name: `../../../../${marker}`, body: 'x' }]),
        await tarOf([{ name: `/tmp/${marker}`, body: 'x' }]),
        await tarOf([
          { name: 'link', type: 'symlink', linkname: '/tmp' },
          { name: `link/${marker}`, body: 'x' },
        ]),
      ];
      for (const bytes of archives) {
        const d = sha(bytes);
        assert.equal((await api(c, `/api/v1/blobs/${d}`, { method: 'PUT', body: bytes })).status, 201);
        const r = await api(c, '/api/v1/jobs', {
          method: 'POST',
          json: { argv: ['true'], input: { digest: d, size: bytes.byteLength } },
        });
        const job = await waitJob(c, (r.body as { job: { id: string } }).job.id);
        assert.equal(job.state, 'failed');
        assert.equal((job.error as { code: string }).code, 'ERR_ARCHIVE_INVALID');
      }
      const found = execFileSync('find', [farm.dataDir, '/tmp', '-maxdepth', '6', '-name', marker], {
        encoding: 'utf8',
      });
      assert.equal(found.trim(), '');
    });

    it('a builder refuses a job pushed into its stream with a token signed by another key', async () => {
      const redis = new Redis(farm.redis.url);
      try {
        const keys = redisKeys(farm.prefix);
        const [bid] = await redis.zrange(keys.registry('linux-x86_64').leases, '0', '-1');
        assert.ok(bid);
        const id = `forged-${randomBytes(4).toString('hex')}`;
        const spec = {
          platform: 'linux-x86_64',
          argv: ['sh', '-c', 'echo pwned'],
          env: {},
          cwd: '.',
          outputs: [],
          profile: 'default',
          limits: { timeoutSec: 60, graceSec: 1, memoryMiB: 256, pids: 64, logBytes: 65536 },
        };
        await redis.hset(keys.job(id), {
          id,
          spec: JSON.stringify(spec),
          state: 'queued',
          attempt: '1',
          bid,
          sub: 'x',
          tenant: 'dev',
          createdAt: new Date().toISOString(),
        });
        const forged = await signJobToken(
          new Uint8Array(randomBytes(32)),
          { jti: id, bid, sub: 'x', tenant: 'dev' },
          60,
        );
        await redis.xadd(keys.builderStream(bid), '*', 'job', id, 'attempt', '1', 'token', forged);
        // The builder acknowledges and deletes the message once it has refused it.
        for (let i = 0; i < 100 && (await redis.xlen(keys.builderStream(bid))) > 0; i++)
          await new Promise((r) => setTimeout(r, 50));
        assert.equal(await redis.xlen(keys.builderStream(bid)), 0);
        assert.equal(await redis.hget(keys.job(id), 'state'), 'queued');
        assert.equal(await redis.exists(keys.jobLog(id)), 0);
        await redis.del(keys.job(id));
      } finally {
        redis.disconnect();
      }
    });

    it('returns 503 with Retry-After when no builder can take the job', async () => {
      const r = await api(c, '/api/v1/jobs', {
        method: 'POST',
        json: { argv: ['true'], platform: 'freebsd-amd64' },
      });
      assert.equal(r.status, 503);
      assert.equal(codeOf(r.body), 'ERR_NO_CAPACITY');
      assert.ok(Number(r.headers.get('retry-after')) > 0);
    });
  });
}

function tamper(jwt: string): string {
  const [h, p, s] = jwt.split('.') as [string, string, string];
  const payload = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
  payload.sub = 'mallory';
  return `${h}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${s}`;
}
