/**
 * Drain in the farm, through a real farm (redis-server, gateway, two bwrap builders): the admin
 * API and its errors, `kiln farm drain|undrain|status`, jobs running on a drained builder finish,
 * no new job is placed on it (also after its own heartbeats), and undrain brings it back.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startDevFarm, type DevFarm } from '../../wiring/dev-farm.ts';
import { api, codeOf, waitIdle, waitJob, type Client } from '../helpers/http.ts';
import { Redis } from 'ioredis';
import { redisKeys } from '../../protocol/keys.ts';
import { kiln as runKiln } from '../helpers/cli.ts';

const USER = 'user-token-' + randomBytes(8).toString('hex');

interface Job {
  id: string;
  state: string;
  builder: string | null;
}

describe('drain', { timeout: 150_000 }, () => {
  let farm: DevFarm;
  let admin: Client;
  let user: Client;
  let names: { a: string; b: string; aId: string; bId: string };
  let redis: Redis;

  const submit = async (argv: string[]): Promise<{ status: number; job: Job; body: unknown }> => {
    const r = await api(user, '/api/v1/jobs', { method: 'POST', json: { argv } });
    return { status: r.status, job: (r.body as { job: Job }).job, body: r.body };
  };
  const waitRunning = async (id: string): Promise<Job> => {
    for (;;) {
      const j = (await api(user, `/api/v1/jobs/${id}`)).body as Job;
      if (j.state !== 'queued') return j;
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const kiln = (args: string[]) => runKiln(args, { url: farm.url, token: admin.token });

  before(async () => {
    farm = await startDevFarm({
      port: 0,
      builders: 2,
      slots: 2,
      // Short, so the test sees heartbeats soon; not shorter: a builder of a loaded machine can
      // miss a beat by a second or two, and a lost lease registers it again under a new id.
      leaseMs: 4000,
      limits: { placementWaitMs: 300 },
      authMethods: [{ type: 'token', tokens: [{ token: USER, sub: 'alice', tenant: 'team' }] }],
    });
    admin = { url: farm.url, token: farm.token };
    user = { url: farm.url, token: USER };
    redis = new Redis(farm.redis.url);
    const ids = [...farm.builderIds.values()].sort();
    const nameOf = (id: string): string => id.replace(/-[0-9a-f]{8}$/, '');
    names = { aId: ids[0]!, bId: ids[1]!, a: nameOf(ids[0]!), b: nameOf(ids[1]!) };
  });
  after(async () => {
    redis?.disconnect();
    await farm?.stop();
  });

  it('answers 403 to a non-admin, 404 for an unknown builder, 400 for a bad name, 401 without credentials', async () => {
    const forbidden = await api(user, `/api/v1/builders/${names.a}/drain`, { method: 'POST' });
    assert.equal(forbidden.status, 403);
    assert.equal(codeOf(forbidden.body), 'ERR_FORBIDDEN');
    const unknown = await api(admin, '/api/v1/builders/no-such-builder/drain', { method: 'POST' });
    assert.equal(unknown.status, 404);
    assert.equal(codeOf(unknown.body), 'ERR_NOT_FOUND');
    assert.match((unknown.body as { error: { message: string } }).error.message, /kiln farm status/);
    const bad = await api(admin, `/api/v1/builders/${encodeURIComponent('a b')}/undrain`, { method: 'POST' });
    assert.equal(bad.status, 400);
    assert.equal(codeOf(bad.body), 'ERR_VALIDATION');
    const anon = await api({ url: farm.url, token: '' }, `/api/v1/builders/${names.a}/drain`, {
      method: 'POST',
    });
    assert.equal(anon.status, 401);
    const cli = await kiln(['farm', 'drain', 'no-such-builder']);
    assert.equal(cli.code, 1);
    assert.match(cli.stderr, /^kiln: no builder named no-such-builder is registered/);
    assert.doesNotMatch(cli.stderr, /\n\s+at /, 'no stack trace');
  });

  it('lets running jobs finish, places nothing new on it, and undrain brings it back', async () => {
    // Fill builder a: two jobs running there (the second goes to the less loaded one, so submit
    // until a holds two). Long enough to be still running when a is drained, on a loaded machine.
    const onA: Job[] = [];
    const elsewhere: Job[] = [];
    while (onA.length < 2) {
      const { job } = await submit(['sh', '-c', 'sleep 8; echo finished']);
      const j = await waitRunning(job.id);
      (j.builder === names.aId ? onA : elsewhere).push(j);
      assert.ok(elsewhere.length < 4, 'placement never chose builder a');
    }
    // Drain by id: the drain is recorded for the name.
    const drained = await kiln(['farm', 'drain', names.aId, '--json']);
    assert.equal(drained.code, 0, drained.stderr);
    const state = JSON.parse(drained.stdout) as {
      name: string;
      draining: boolean;
      drain: { by: string };
      builders: { load: number }[];
    };
    assert.equal(state.name, names.a);
    assert.equal(state.draining, true);
    assert.equal(state.drain.by, 'dev');
    assert.equal(state.builders[0]?.load, 2, 'both jobs are still on a when it is drained');

    // Its own heartbeats (every leaseMs/2 = 2 s) rewrite its info: wait for two of them.
    const leaseOf = async (): Promise<number> =>
      Number(await redis.zscore(redisKeys(farm.prefix).registry('linux-x86_64').leases, names.aId));
    const leaseAtDrain = await leaseOf();
    while ((await leaseOf()) < leaseAtDrain + 3000) await new Promise((r) => setTimeout(r, 100));

    // New jobs go to b only, until b is full (of long jobs: the short ones there are done first);
    // then there is no capacity, never a.
    for (const j of elsewhere) assert.equal((await waitJob(user, j.id)).state, 'succeeded');
    await waitIdle(admin, [names.bId]); // their slots are given back a moment after
    const later: Job[] = [];
    let full: Awaited<ReturnType<typeof submit>> | null = null;
    while (!full && later.length < 6) {
      const r = await submit(['sh', '-c', 'sleep 30']);
      if (r.status === 503) full = r;
      else {
        assert.equal(r.status, 201, JSON.stringify(r.body));
        assert.equal(r.job.builder, names.bId, 'a drained builder was given a job');
        later.push(r.job);
      }
    }
    assert.ok(full, 'b never filled up');
    assert.equal(later.length, 2);
    assert.equal(codeOf(full.body), 'ERR_NO_CAPACITY');

    const status = await kiln(['farm', 'status']);
    assert.match(status.stdout, new RegExp(`${names.aId}.*live, draining \\(by dev\\)`));
    const json = JSON.parse((await kiln(['farm', 'status', '--json'])).stdout) as {
      builders: { id: string; draining: boolean; drain: unknown }[];
    };
    assert.deepEqual(json.builders.map((b) => [b.id, b.draining]).sort(), [
      [names.aId, true],
      [names.bId, false],
    ]);

    // The jobs that were running on a finish normally.
    for (const j of onA) {
      const done = await waitJob(user, j.id);
      assert.equal(done.state, 'succeeded');
      assert.equal(done.exitCode, 0);
      assert.equal(done.builder, names.aId);
    }
    // kiln farm drain --wait answers at once now that a holds nothing.
    const idle = await kiln(['farm', 'drain', names.a, '--wait', '10', '--json']);
    assert.equal(idle.code, 0, idle.stderr);
    assert.deepEqual(
      (JSON.parse(idle.stdout) as { builders: { load: number }[] }).builders.map((b) => b.load),
      [0],
    );

    // Undrain: b is full, so the next job can only go to a.
    const undrained = await kiln(['farm', 'undrain', names.a]);
    assert.equal(undrained.code, 0, undrained.stderr);
    assert.match(undrained.stdout, new RegExp(`^${names.a}: taking jobs`));
    const back = await submit(['sh', '-c', 'echo back']);
    assert.equal(back.status, 201, JSON.stringify(back.body));
    assert.equal(back.job.builder, names.aId);
    assert.equal((await waitJob(user, back.job.id)).state, 'succeeded');
    for (const j of [...later, ...elsewhere])
      await api(user, `/api/v1/jobs/${j.id}/cancel`, { method: 'POST' });
  });
});
