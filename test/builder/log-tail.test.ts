/**
 * A job's log: the whole of it (up to limits.logBytes) reaches the client, while Redis keeps only
 * a bounded tail whatever the job writes; the rest comes from the store's segments. A real farm:
 * redis-server, local-dir store, a bwrap builder.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { Redis } from 'ioredis';
import { startDevFarm, type DevFarm } from '../../wiring/dev-farm.ts';
import { redisKeys } from '../../protocol/keys.ts';
import { api, readLog, waitJob, type Client } from '../helpers/http.ts';

describe('job logs: bounded tail in Redis, the rest in the store', { timeout: 170_000 }, () => {
  let farm: DevFarm;
  let c: Client;
  let redis: Redis;
  before(async () => {
    farm = await startDevFarm({ builders: 1, slots: 1, port: 0 });
    c = { url: farm.url, token: farm.token };
    redis = new Redis(farm.redis.url);
  });
  after(async () => {
    redis?.disconnect();
    await farm?.stop();
  });

  it('gives back the whole log of a job that wrote far more than the tail', async () => {
    const n = 2_000_000;
    const created = await api(c, '/api/v1/jobs', {
      method: 'POST',
      json: { argv: ['seq', '1', String(n)], limits: { logBytes: 64 << 20 } },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const id = (created.body as { job: { id: string } }).job.id;
    const job = await waitJob(c, id);
    assert.equal(job.state, 'succeeded');
    const log = await readLog(c, id, false);
    const want = execFileSync('seq', ['1', String(n)], { maxBuffer: 64 << 20 }).toString();
    assert.equal(log.stdout.length, want.length);
    assert.ok(log.stdout === want, 'the log read back is exactly what the job wrote');
    const key = redisKeys(farm.prefix).jobLog(id);
    const inRedis = Number(await redis.call('MEMORY', 'USAGE', key));
    assert.ok(inRedis < 4.5 * 2 ** 20, `the log tail takes ${inRedis} bytes of Redis (4 MiB by default)`);
    assert.ok(want.length > 3 * inRedis, 'most of the log is not in Redis');
    // A follower cut in the part that is only in the store resumes from the id of its last line.
    const lines = log.lines as { id?: string; data?: string }[];
    const cut = lines.findIndex((l) => l.id === '1.20');
    assert.ok(cut > 0, 'lines read back from the store carry <attempt>.<seq> ids');
    const seen = lines
      .slice(0, cut + 1)
      .map((l) => Buffer.from(l.data ?? '', 'base64').toString())
      .join('');
    const res = await fetch(`${c.url}/api/v1/jobs/${id}/logs?after=1.20&format=raw`, {
      headers: { Authorization: `Bearer ${c.token}` },
    });
    assert.equal(seen + (await res.text()), want, 'resuming after 1.20 gives exactly the rest');
    assert.equal((await api(c, `/api/v1/jobs/${id}`, { method: 'DELETE' })).status, 204);
  });
});
