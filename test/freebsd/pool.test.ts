/**
 * The warm pool over the FreeBSD test double with a real Redis: ready before the first job, reuse
 * after revert, reclaim after SIGKILL, other instances' expired orphans destroyed, tampered jail
 * metadata that does not extend a pot's life, and a pool at its size that makes the next job wait.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { connectRedis, type RedisConn } from '../../redis/connect.ts';
import { createRedisLeaseStore } from '../../redis/pot-leases.ts';
import { startLocalRedis, type LocalRedis } from '../../wiring/redis-server.ts';
import { createHostTools } from '../../builders/freebsd/host-tools.ts';
import { combinedLeases, fileLeaseStore, type LeaseStore } from '../../builders/freebsd/leases.ts';
import { createPotPool, type PoolOptions, type PotPool } from '../../builders/freebsd/pool.ts';
import { createPotRunner } from '../../builders/freebsd/pot-runner.ts';
import { redisKeys } from '../../protocol/keys.ts';
import { doubleToolPaths, potDoubleSkip, startPotHost, type PotHost } from '../helpers/pot-double.ts';
import { runJob } from '../sandbox/conformance.ts';

const T = { timeout: 170_000 };
const CHILD = fileURLToPath(new URL('./fixtures/pool-process.ts', import.meta.url));

/** Resolves once `check` is true, re-checking as the pool works (a state, not a time, is awaited). */
async function until(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 120_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('pot pool over the test double', { skip: potDoubleSkip }, () => {
  let host: PotHost;
  let redisServer: LocalRedis;
  let redis: RedisConn;
  let n = 0;
  const tools = createHostTools(doubleToolPaths());
  const pools: PotPool[] = [];
  const logs: string[] = [];
  const hostId = `host-${process.pid}`;
  const prefix = `kiln-pool-test-${process.pid}`;

  const leasesFor = (owner: string): LeaseStore =>
    combinedLeases([
      fileLeaseStore(join(host.work, 'state', `${owner}.json`)),
      createRedisLeaseStore(redis, hostId, prefix),
    ]);
  const makePool = (owner: string, extra: Partial<PoolOptions> = {}): PotPool => {
    const pool = createPotPool({
      tools,
      leases: leasesFor(owner),
      owner,
      template: 'kiln-build',
      size: 1,
      leaseMs: 3_600_000,
      loopbackNet: `127.0.${10 + n++}`,
      log: (m) => logs.push(`${owner}: ${m}`),
      ...extra,
    });
    pools.push(pool);
    return pool;
  };
  const potNames = async (): Promise<string[]> =>
    (await host.tool('pot', 'ls', '-q')).split('\n').filter(Boolean);
  const redisLeases = async (): Promise<Record<string, string>> =>
    redis.hgetall(redisKeys(prefix).potLeases(hostId));

  before(async () => {
    host = await startPotHost();
    redisServer = await startLocalRedis();
    redis = await connectRedis({ url: redisServer.url, name: 'pool-test' });
  });
  after(async () => {
    for (const p of pools) await p.stop().catch(() => undefined);
    redis?.disconnect();
    await redisServer?.stop();
    await host?.close();
  });

  it(
    'has every pot ready (cloned, snapshotted, started, raw sockets off) before the first job',
    T,
    async () => {
      const pool = makePool('ready', { size: 2 });
      await pool.start();
      assert.deepEqual(pool.states(), ['ready', 'ready']);
      const mine = (await potNames()).filter((p) => p.startsWith('kiln-ready-'));
      assert.equal(mine.length, 2);
      const calls = await host.calls();
      for (const name of mine) {
        const steps = calls
          .filter((c) => c.args.includes(name) || c.args.includes(`name=${name}`))
          .map((c) => `${c.tool} ${c.args[0]}`);
        assert.deepEqual(steps, ['pot clone', 'pot snapshot', 'pot start', 'jail -m'], name);
      }
      const leases = await redisLeases();
      for (const name of mine) assert.equal(JSON.parse(leases[name]!).owner, 'ready');
      await pool.stop();
      assert.deepEqual(
        (await potNames()).filter((p) => p.startsWith('kiln-ready-')),
        [],
      );
      assert.deepEqual(
        Object.keys(await redisLeases()).filter((k) => k.startsWith('kiln-ready-')),
        [],
      );
    },
  );

  it('reuses a pot after reverting it: nothing of one job reaches the next', T, async () => {
    const pool = makePool('reuse');
    await pool.start();
    const runner = createPotRunner({ tools, pool, log: (m) => logs.push(m) });
    const first = await runJob(runner, host.work, {
      argv: ['/bin/sh', '-c', 'echo secret > /tmp/left-behind; echo done'],
    });
    assert.equal(first.out.stdout, 'done\n');
    await until(() => pool.states()[0] === 'ready', 'the pot to be ready again');
    const second = await runJob(runner, host.work, {
      argv: ['/bin/sh', '-c', 'ls /tmp; cat /tmp/left-behind 2>/dev/null || echo clean'],
    });
    assert.equal(second.r.exitCode, 0);
    assert.match(second.out.stdout, /clean\n$/);
    assert.doesNotMatch(second.out.stdout, /left-behind/);
    const [name] = (await potNames()).filter((p) => p.startsWith('kiln-reuse-'));
    const calls = (await host.calls()).filter((c) => c.args.includes(name!));
    assert.equal(calls.filter((c) => c.args[0] === 'clone').length, 1, 'one pot served both jobs');
    const order = calls.map((c) => c.args[0]);
    const firstExec = order.indexOf('exec');
    assert.ok(
      order.indexOf('revert', firstExec) > firstExec,
      `revert after the first job: ${order.join(' ')}`,
    );
    await until(() => pool.states()[0] === 'ready', 'the pot to be reverted after the second job');
    const fscomp = await readFile(join(host.root, 'jails', name!, 'conf', 'fscomp.conf'), 'utf8');
    assert.doesNotMatch(fscomp, /\/job/, 'the last job directory is no longer mounted after revert');
  });

  it('reclaims its pots after the builder was killed with SIGKILL', T, async () => {
    const stateFile = join(host.work, 'state', 'phoenix.json');
    const args = JSON.stringify({
      redisUrl: redisServer.url,
      prefix,
      host: hostId,
      stateFile,
      owner: 'phoenix',
      size: 1,
    });
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, args], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    await until(() => out.includes('ready') || child.exitCode !== null, 'the child pool');
    assert.match(out, /ready ready/);
    const before = (await potNames()).filter((p) => p.startsWith('kiln-phoenix-'));
    assert.equal(before.length, 1);
    child.kill('SIGKILL');
    await once(child, 'exit');
    const pool = createPotPool({
      tools,
      leases: combinedLeases([fileLeaseStore(stateFile), createRedisLeaseStore(redis, hostId, prefix)]),
      owner: 'phoenix',
      template: 'kiln-build',
      size: 1,
      leaseMs: 3_600_000,
      loopbackNet: '127.0.8',
      log: (m) => logs.push(`phoenix: ${m}`),
    });
    pools.push(pool);
    await pool.start();
    assert.deepEqual(pool.states(), ['ready']);
    assert.deepEqual(
      (await potNames()).filter((p) => p.startsWith('kiln-phoenix-')),
      before,
      'the same pot, reclaimed',
    );
    assert.ok(logs.some((l) => l.includes(`reclaiming pot ${before[0]}`)));
    const runner = createPotRunner({ tools, pool });
    const { r, out: o } = await runJob(runner, host.work, { argv: ['/bin/sh', '-c', 'echo again'] });
    assert.equal(r.exitCode, 0);
    assert.equal(o.stdout, 'again\n');
  });

  it(
    "destroys another instance's expired pots and pots without a lease, and leaves live ones",
    T,
    async () => {
      const past = Date.now() - 1000;
      const future = Date.now() + 3_600_000;
      const made = { expired: 'kiln-other-0-old1', unleased: 'kiln-ghost-0-nol1', live: 'kiln-alive-0-liv1' };
      const redisStore = createRedisLeaseStore(redis, hostId, prefix);
      await redisStore.put({ name: made.expired, owner: 'other', createdAt: past - 5000, expiresAt: past });
      await redisStore.put({ name: made.live, owner: 'alive', createdAt: past, expiresAt: future });
      for (const [i, name] of Object.values(made).entries()) {
        await host.tool(
          'pot',
          'clone',
          '-p',
          name,
          '-P',
          'kiln-build',
          '-N',
          'alias',
          '-i',
          `lo0|127.0.7.${i + 1}`,
        );
        await host.tool('pot', 'start', '-p', name);
      }
      const pool = makePool('cleaner');
      await pool.start();
      // The earlier tests' pools sweep in the background too and may be destroying the same
      // orphan at this moment: wait (bounded) for the destroy that is under way to finish.
      let names = await potNames();
      for (let i = 0; i < 100 && (names.includes(made.expired) || names.includes(made.unleased)); i++) {
        await new Promise((r) => setTimeout(r, 100));
        names = await potNames();
      }
      assert.ok(!names.includes(made.expired), 'expired orphan destroyed');
      assert.ok(!names.includes(made.unleased), 'pot without a lease destroyed');
      assert.ok(names.includes(made.live), "another instance's live pot kept");
      const leases = await redisLeases();
      assert.ok(!(made.expired in leases) && made.live in leases);
      assert.ok(names.includes('kiln-build'), 'the template is never touched');
    },
  );

  it('destroys a pot when its lease ends, whatever its jail-side metadata claims', T, async () => {
    let skew = 0;
    const pool = makePool('tamper', { now: () => Date.now() + skew, leaseMs: 600_000 });
    await pool.start();
    const [name] = (await potNames()).filter((p) => p.startsWith('kiln-tamper-'));
    // What a worker could do to CoordBfaas: claim a later lease and another owner in its own files.
    const claim = JSON.stringify({ owner: 'someone-else', expiresAt: Date.now() + 10 * 365 * 86_400_000 });
    await mkdir(join(host.root, 'jails', name!, 'm', 'etc'), { recursive: true });
    await writeFile(join(host.root, 'jails', name!, 'm', 'etc', 'kiln-lease.json'), claim);
    await writeFile(join(host.root, 'jails', name!, 'm', 'tmp', 'kiln-lease.json'), claim);
    await pool.sweep();
    assert.ok((await potNames()).includes(name!), 'kept while its lease runs');
    skew = 600_001; // the lease kept in Redis and the state file is over
    await pool.sweep();
    await until(async () => !(await potNames()).includes(name!), 'the tampered pot to be destroyed');
    await until(() => pool.states()[0] === 'ready', 'a replacement pot');
    assert.ok(!(name! in (await redisLeases())));
    const state = JSON.parse(await readFile(join(host.work, 'state', 'tamper.json'), 'utf8')) as object;
    assert.ok(!(name! in state));
  });

  it('makes the next job wait, not fail, when every pot is busy', T, async () => {
    const pool = makePool('full');
    await pool.start();
    const runner = createPotRunner({ tools, pool });
    const order: string[] = [];
    const go = join(host.work, `go-${process.pid}`);
    const a = runJob(
      runner,
      host.work,
      {
        argv: ['/bin/sh', '-c', 'echo a-started; while [ ! -e go ]; do sleep 0.05; done; echo a-done'],
      },
      (c, dir) => {
        if (c.stdout.includes('a-started') && !order.includes('a-started')) {
          order.push('a-started');
          void writeFile(go, dir);
        }
      },
    );
    await until(() => existsSync(go), 'job a to run');
    const b = runJob(runner, host.work, { argv: ['/bin/sh', '-c', 'echo b-ran'] }).then((r) => {
      order.push('b-done');
      return r;
    });
    await until(() => pool.waiting() === 1, 'job b to wait for the pot');
    assert.deepEqual(pool.states(), ['busy']);
    const dirA = await readFile(go, 'utf8');
    await writeFile(join(dirA, 'go'), '');
    const ra = await a;
    order.push('a-done');
    const rb = await b;
    assert.equal(ra.r.exitCode, 0);
    assert.equal(rb.r.exitCode, 0);
    assert.equal(rb.out.stdout, 'b-ran\n');
    assert.deepEqual(order, ['a-started', 'a-done', 'b-done']);
  });
});
