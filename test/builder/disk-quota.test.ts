/**
 * Per-job disk quota against a real farm (redis-server, local store, a bwrap builder whose job
 * directories are loop-mounted ext4 images of limits.diskMiB): a job writing past its quota gets
 * ENOSPC inside the sandbox (in /job or in /tmp, which is on the same file system) and the result says the disk limit was hit (ERR_DISK_QUOTA); the
 * builder's work disk does not grow by more than the quota, the builder keeps taking jobs and
 * leaves no job's mount behind.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { redisKeys } from '../../protocol/keys.ts';
import { startDevFarm, type DevFarm } from '../../wiring/dev-farm.ts';
import { api, readLog, waitJob, type Client } from '../helpers/http.ts';

const MiB = 1024 * 1024;

async function mountsUnder(dir: string): Promise<string[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  return text
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((p) => p.startsWith(dir));
}

describe('per-job disk quota', { timeout: 170_000 }, () => {
  let farm: DevFarm;
  let c: Client;
  const run = async (argv: string[], diskMiB: number) => {
    const r = await api(c, '/api/v1/jobs', { method: 'POST', json: { argv, limits: { diskMiB } } });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const id = (r.body as { job: { id: string } }).job.id;
    return { id, job: await waitJob(c, id), log: await readLog(c, id) };
  };
  const workFree = async (): Promise<number> => {
    const s = await statfs(farm.dataDir);
    return Number(s.bavail) * Number(s.bsize);
  };

  before(async () => {
    farm = await startDevFarm({ builders: 1, slots: 2, port: 0 });
    c = { url: farm.url, token: farm.token };
  });
  after(async () => {
    await farm?.stop();
  });

  it('a 5 GiB fallocate in /job fails with ENOSPC and the job says the disk limit was hit', async () => {
    const before = await workFree();
    const { job, log } = await run(['sh', '-c', 'df -k /job; fallocate -l 5G /job/big'], 64);
    assert.equal(job.state, 'failed', JSON.stringify(job));
    assert.match(log.stderr, /No space left on device/);
    const error = job.error as { code: string; message: string } | null;
    assert.equal(error?.code, 'ERR_DISK_QUOTA', JSON.stringify(job));
    assert.match(error.message, /disk limit of 64 MiB reached \(\/job and \/tmp\)/);
    const size = Number(/\n\S+\s+(\d+)\s/.exec(log.stdout)?.[1]);
    assert.ok(size > 40 * 1024 && size <= 64 * 1024, `/job is a 64 MiB file system: ${log.stdout}`);
    assert.ok(before - (await workFree()) < 200 * MiB, 'the work disk did not take the 5 GiB');
  });

  it('a job filling /tmp fails the same way: /tmp is on the job’s disk, inside its quota', async () => {
    // 100 MiB fits the profile's 1 GiB tmpfs and the 2 GiB memory limit: only the quota stops it.
    const { job, log } = await run(
      ['sh', '-c', 'df -k /tmp; touch /tmp/mine && ls -ld /tmp; dd if=/dev/zero of=/tmp/x bs=1M count=100'],
      32,
    );
    assert.equal(job.state, 'failed', JSON.stringify(job));
    assert.match(log.stderr, /No space left on device/);
    const error = job.error as { code: string; message: string } | null;
    assert.equal(error?.code, 'ERR_DISK_QUOTA', JSON.stringify(job));
    assert.match(error.message, /disk limit of 32 MiB reached \(\/job and \/tmp\)/);
    const size = Number(/\n\S+\s+(\d+)\s/.exec(log.stdout)?.[1]);
    assert.ok(size > 20 * 1024 && size <= 32 * 1024, `/tmp is on the 32 MiB job disk: ${log.stdout}`);
    assert.match(log.stdout, /^drwxrwxrwt /m, '/tmp is writable by the job and sticky');
  });

  it('writing past the quota with dd fails the same way; within it the job succeeds', async () => {
    const over = await run(['sh', '-c', 'dd if=/dev/zero of=/job/x bs=1M count=100'], 32);
    assert.equal(over.job.state, 'failed');
    assert.match(over.log.stderr, /No space left on device/);
    assert.equal((over.job.error as { code?: string } | null)?.code, 'ERR_DISK_QUOTA');
    const within = await run(['sh', '-c', 'dd if=/dev/zero of=/job/x bs=1M count=20 && ls -l /job'], 64);
    assert.equal(within.job.state, 'succeeded', JSON.stringify(within.job));
    assert.equal(within.job.error, null);
  });

  it('the builder survives: it is not draining, takes the next job, and leaves no mount behind', async () => {
    const next = await run(['true'], 16);
    assert.equal(next.job.state, 'succeeded');
    const conn = new Redis(farm.redis.url);
    try {
      const raw = await conn.hgetall(redisKeys(farm.prefix).registry('linux-x86_64').builders);
      const infos = Object.values(raw).map((v) => JSON.parse(v) as { draining: boolean });
      assert.equal(infos.length, 1);
      assert.equal(infos[0]!.draining, false, 'a job filling its own disk does not make the builder full');
    } finally {
      conn.disconnect();
    }
    // What is left: spares made for the next jobs (s-…), the disks of sandboxes made ready ahead
    // (builders/linux/ready-pool.ts), each waiting for a job, and wiped disks kept for the next
    // jobs of their size (builders/linux/loop-disk.ts); none holds anything of a job.
    const left = await mountsUnder(farm.dataDir);
    const disk = /\/s-[0-9a-f]{16}\/fs$/;
    assert.deepEqual(
      left.filter((p) => !disk.test(p)),
      [],
      'every job disk is a disk of the builder (spare, free or ready)',
    );
    assert.ok(
      left.length <= 2 + 2 * 4 + 8,
      `spares, free disks and ready sandboxes only: ${left.join(', ')}`,
    );
    for (const p of left) {
      // A spare or free disk holds nothing; a ready sandbox's, its empty /job and /tmp.
      const names = (await readdir(p)).filter((n) => n !== 'lost+found').sort();
      assert.ok(
        names.length === 0 || names.join() === 'job,tmp' || names.join() === 'tmp',
        `${p}: ${names.join(', ')}`,
      );
      for (const n of names)
        assert.deepEqual(await readdir(join(p, n)), [], `${p}/${n} holds nothing of a job`);
    }
  });
});
