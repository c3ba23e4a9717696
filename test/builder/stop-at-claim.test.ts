/**
 * A stop asked before the builder claims an attempt: the claim's reply carries it (the job hash's
 * `cancel`), and the builder answers the attempt `killed` without running its command (the
 * builder's port has no other way to ask). A real farm (redis-server, gateway) and an in-process bwrap builder agent whose
 * port sets `cancel` on the job between its claim and a second claim of the same attempt (a
 * reclaimed message: the job is already running on this builder), as a stop whose control message
 * came while nothing was tracked would leave it.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { startDevFarm, type DevFarm } from '../../wiring/dev-farm.ts';
import { startAgent, type Agent } from '../../builders/core/agent.ts';
import { createBwrapRunner } from '../../builders/linux/bwrap-runner.ts';
import type { BuilderFarm } from '../../protocol/builder-port.ts';
import { redisKeys } from '../../protocol/keys.ts';
import { createRedisBuilderFarm } from '../../redis/builder-farm.ts';
import { connectRedis } from '../../redis/connect.ts';
import { openStore } from '../../wiring/store.ts';
import { api, readLog, waitJob, type Client } from '../helpers/http.ts';

describe('a stop already asked when the attempt is claimed', { timeout: 120_000 }, () => {
  let farm: DevFarm;
  let agent: Agent;
  let conns: Redis[];
  let workDir: string;
  let c: Client;
  /** The `$0` of the jobs whose claim a stop precedes. */
  const STOP = 'stop-first';

  before(async () => {
    farm = await startDevFarm({ builders: 0, port: 0 });
    c = { url: farm.url, token: farm.token };
    conns = await Promise.all(['r', 'p', 's'].map(() => connectRedis({ url: farm.redis.url, name: 't' })));
    workDir = await mkdtemp(join(tmpdir(), 'kiln-stop-claim-'));
    await chmod(workDir, 0o711);
    const keys = redisKeys(farm.prefix);
    const port = createRedisBuilderFarm({ redis: conns[0]!, pull: conns[1]!, sub: conns[2]! }, farm.prefix);
    const double: BuilderFarm = {
      ...port,
      async claim(jobId, attempt, bid) {
        const rec = await port.claim(jobId, attempt, bid);
        if (rec.spec.argv[3] !== STOP) return rec;
        await conns[0]!.hset(keys.job(jobId), 'cancel', '1');
        return port.claim(jobId, attempt, bid);
      },
    };
    agent = await startAgent({
      farm: double,
      store: openStore(farm.storage),
      runner: createBwrapRunner({ cgroupParent: 'kiln', log: () => undefined }),
      name: 'stop-claim',
      platform: 'linux-x86_64',
      slots: 1,
      workDir,
      leaseMs: 10_000,
      version: 'test',
      log: () => undefined,
    });
  });
  after(async () => {
    await agent?.stop();
    for (const x of conns ?? []) x.disconnect();
    await farm?.stop();
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  const create = async (name: string): Promise<string> => {
    const argv = ['sh', '-c', 'echo ran', name];
    const r = await api(c, '/api/v1/jobs', { method: 'POST', json: { argv } });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return (r.body as { job: { id: string } }).job.id;
  };

  it('answers killed and never runs the command; a job without a stop runs', async () => {
    const id = await create(STOP);
    const job = await waitJob(c, id);
    assert.equal(job.state, 'killed', JSON.stringify(job));
    const log = await readLog(c, id, false);
    assert.equal(log.stdout, '', 'the command never ran');

    const other = await create('plain');
    const done = await waitJob(c, other);
    assert.equal(done.state, 'succeeded', JSON.stringify(done));
    assert.equal((await readLog(c, other, false)).stdout, 'ran\n');
  });
});
