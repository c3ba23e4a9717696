/**
 * The gateway's HTTP API cases that run jobs: one real farm (redis-server, s3rver, bwrap builder)
 * behind a gateway started by `launcher` — in-process Node, or a Deno process. Every case asserts
 * status, body and what the builder did. Cases that need no builder (validation, auth, limits,
 * routing) are in validation.cases.ts and access.cases.ts, run in-process without bwrap.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import tar from 'tar-stream';
import { startDevFarm, type DevFarm, type GatewayLauncher } from '../../wiring/dev-farm.ts';
import { redisKeys } from '../../protocol/keys.ts';
import { signJobToken } from '../../protocol/token.ts';
import { s3Storage, startS3rver, type S3rverHandle } from '../helpers/s3rver.ts';
import { api, readLog, waitJob, type Client } from '../helpers/http.ts';
import { farmRedis, openConn } from '../helpers/redis-mode.ts';
import type { JobView } from '../../protocol/job.ts';
import { encodeJobBody, JOB_BODY_TYPE } from '../../protocol/job-body.ts';
import { verifyJobResult } from '../../client/verify-result.ts';

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
    let s3: S3rverHandle;
    let c: Client;

    before(async () => {
      s3 = await startS3rver();
      farm = await startDevFarm({
        s3: s3Storage(s3),
        builders: 1,
        slots: 3,
        port: 0,
        leaseMs: 3000,
        limits: { placementWaitMs: 500 },
        ...(launcher ? { serveGateway: launcher } : {}),
        ...farmRedis,
      });
      c = { url: farm.url, token: farm.token };
    });
    after(async () => {
      await farm?.stop();
      await s3?.stop();
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

    it('hands a finished job with its builder’s signature, which verifies; lists the signing keys', async () => {
      const r = await api(c, '/api/v1/jobs?wait=30', { method: 'POST', json: { argv: ['true'] } });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      const job = (r.body as { job: JobView }).job;
      assert.equal(job.state, 'succeeded');
      assert.equal(job.signature?.registered, true);
      assert.equal(job.signature.builder, job.builder);
      await verifyJobResult(job, { job: job.id, action: null }, true);
      await assert.rejects(verifyJobResult({ ...job, exitCode: 1 }, { action: null }, false), {
        code: 'ERR_BAD_SIGNATURE',
      });
      const keys = await api(c, '/api/v1/signers');
      assert.equal(keys.status, 200);
      const { signers } = keys.body as { signers: { builder: string; key: string; live: boolean }[] };
      assert.deepEqual(
        signers.filter((k) => k.builder === job.builder).map((k) => [k.key, k.live]),
        [[job.signature.key, true]],
      );
    });

    it('runs a binary job body: its inline files arrive byte for byte', async () => {
      const files = [
        { path: 'in/a.bin', data: randomBytes(70_000) },
        { path: 'empty', data: Buffer.alloc(0) },
        { path: 'run.sh', data: Buffer.from('#!/bin/sh\nsha256sum in/a.bin empty\n'), executable: true },
      ];
      const body = Buffer.concat(
        encodeJobBody(
          { argv: ['./run.sh'], inlineResult: true },
          files.map((f) => ({ ...f, digest: sha(f.data) })),
        ),
      );
      const r = await api(c, '/api/v1/jobs?wait=60', {
        method: 'POST',
        body,
        headers: { 'Content-Type': JOB_BODY_TYPE },
      });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      const id = (r.body as { job: { id: string } }).job.id;
      const job = (await waitJob(c, id)) as unknown as JobView;
      assert.equal(job.state, 'succeeded', JSON.stringify(job));
      const out = Buffer.from(job.result?.stdout ?? '', 'base64').toString();
      assert.equal(out, `${sha(files[0]!.data)}  in/a.bin\n${sha(Buffer.alloc(0))}  empty\n`);
    });

    it('answers a URL over limits.maxUrlBytes with 414 and a JSON error body', async () => {
      for (const n of [10_000, 60_000]) {
        const res = await fetch(`${c.url}/api/v1/jobs/${'a'.repeat(n)}`, {
          headers: { Authorization: `Bearer ${c.token}` },
        });
        assert.equal(res.status, 414, `${n}-byte URL`);
        const body = (await res.json()) as { error: { code: string; message: string } };
        assert.equal(body.error.code, 'ERR_URL_TOO_LONG');
        assert.match(body.error.message, /limits\.maxUrlBytes/);
      }
    });

    it('streams logs live to concurrent followers, each from the start', async () => {
      const script = 'for i in 1 2 3 4 5 6; do echo line $i; sleep 0.5; done';
      const r = (await api(c, '/api/v1/jobs', { method: 'POST', json: { argv: ['sh', '-c', script] } }))
        .body as { job: { id: string } };
      const id = r.job.id;
      // The first reader starts at once; the second joins while the job is running.
      const first = readLog(c, id);
      // The second reader joins once the job has printed its first line (and is still running).
      while (!(await readLog(c, id, false)).stdout.includes('line 1'))
        await new Promise((res) => setTimeout(res, 50));
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
      // Other processes' temp folders may vanish while find walks /tmp: judge by what it found.
      const found = spawnSync('find', [farm.dataDir, '/tmp', '-maxdepth', '6', '-name', marker], {
        encoding: 'utf8',
      });
      assert.equal(found.stdout.trim(), '');
    });

    it('a builder refuses a job pushed into its stream with a token signed by another key', async () => {
      const redis = openConn(farm.redis);
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
        const forged = signJobToken(
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
  });
}
