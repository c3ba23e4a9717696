/**
 * End to end to a FreeBSD builder over the pot test double: `kiln run --platform freebsd-amd64`
 * through the gateway to a `kiln builder` process whose sandbox is `type = "pot"`, and back with
 * its logs, outputs, stop and time limit. The farm also has a Linux builder, which must never get
 * a freebsd-* job.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { stringify } from 'smol-toml';
import { startDevFarm, type DevFarm } from '../../wiring/dev-farm.ts';
import { kiln } from '../helpers/cli.ts';
import { doubleToolPaths, potDoubleSkip, startPotHost, type PotHost } from '../helpers/pot-double.ts';

const KILN_BIN = fileURLToPath(new URL('../../client/bin/kiln.js', import.meta.url));

/** Starts `kiln builder --config <toml>`; resolves with the child once it registered. */
async function startPotBuilder(farm: DevFarm, work: string): Promise<{ child: ChildProcess; id: string }> {
  const paths = doubleToolPaths();
  const file = join(work, 'pot-builder.toml');
  const cfg = {
    name: 'bsd0',
    platform: 'freebsd-amd64',
    slots: 2,
    leaseMs: 1500,
    workDir: join(work, 'bsd-work'),
    redis: { url: farm.redis.url, prefix: farm.prefix },
    storage: farm.storage,
    sandbox: {
      type: 'pot',
      potPath: paths.pot,
      jailPath: paths.jail,
      rctlPath: paths.rctl,
      pkillPath: paths.pkill,
      dmesgPath: paths.dmesg,
      zfsPath: paths.zfs,
      template: 'kiln-build',
      poolSize: 1,
      loopbackNet: '127.0.20',
    },
  };
  await writeFile(file, stringify(cfg), { mode: 0o600 });
  const child = spawn(process.execPath, [KILN_BIN, 'builder', '--config', file], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, NODE_OPTIONS: '', KILN_PARENT_PID: String(process.pid) },
  });
  return new Promise((resolve, reject) => {
    let buf = '';
    child.stderr!.on('data', (d: Buffer) => {
      buf += d.toString();
      const m = /builder (\S+) registered/.exec(buf);
      if (m) resolve({ child, id: m[1]! });
    });
    child.once('exit', (code) => reject(new Error(`pot builder exited with ${code}: ${buf.slice(-2000)}`)));
  });
}

describe(
  'kiln run to a FreeBSD (pot) builder over the test double',
  { skip: potDoubleSkip, timeout: 300_000 },
  () => {
    let host: PotHost;
    let farm: DevFarm;
    let bsd: { child: ChildProcess; id: string };
    let opts: { url: string; token: string; cwd: string };
    const status = async (id: string): Promise<{ state: string; builder?: string }> =>
      JSON.parse((await kiln(['status', '--json', id], opts)).stdout) as { state: string; builder?: string };

    before(async () => {
      host = await startPotHost();
      farm = await startDevFarm({ builders: 1, slots: 2, port: 0, leaseMs: 1500, limits: { sweepMs: 250 } });
      bsd = await startPotBuilder(farm, host.work);
      opts = { url: farm.url, token: farm.token, cwd: host.work };
    });
    after(async () => {
      if (bsd?.child.exitCode === null) {
        bsd.child.kill('SIGTERM');
        await new Promise((r) => bsd.child.once('exit', r));
      }
      await farm?.stop();
      await host?.close();
    });

    it('runs the job in a jail and brings back its logs and outputs', async () => {
      const src = join(host.work, 'src');
      await mkdir(src, { recursive: true });
      await writeFile(join(src, 'in.txt'), 'input from the client\n');
      const r = await kiln(
        [
          'run',
          '--platform',
          'freebsd-amd64',
          '--input',
          'src',
          '--output',
          'out.txt',
          '--',
          'sh',
          '-c',
          'cat in.txt; echo "jail user $(id -u)" > out.txt; echo e2e-bsd-marker >&2',
        ],
        opts,
      );
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, 'input from the client\n');
      assert.match(r.stderr, /e2e-bsd-marker/);
      assert.equal(await readFile(join(src, 'out.txt'), 'utf8'), 'jail user 1001\n');
      const execs = (await host.calls()).filter((c) => c.tool === 'pot' && c.args[0] === 'exec');
      assert.ok(
        execs.some((c) => c.args.some((a) => a.includes('e2e-bsd-marker'))),
        'it ran through pot exec',
      );
    });

    it('kiln stop ends a running FreeBSD job: killed, with the log it wrote', async () => {
      const started = await kiln(
        ['run', '--detach', '--platform', 'freebsd-amd64', '--', 'sh', '-c', 'echo started; exec sleep 600'],
        opts,
      );
      assert.equal(started.code, 0, started.stderr);
      const id = started.stdout.trim();
      const follow = kiln(['logs', '-f', id], opts);
      // Stopped once its first line is in the log: the job runs in its jail by then.
      const deadline = Date.now() + 60_000;
      while (!(await kiln(['logs', id], opts)).stdout.includes('started') && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 100));
      assert.equal((await status(id)).state, 'running');
      const stop = await kiln(['stop', '--json', id], opts);
      assert.equal(stop.code, 0, stop.stderr);
      assert.equal((JSON.parse(stop.stdout) as { state: string }).state, 'killed');
      assert.equal((await follow).stdout, 'started\n');
    });

    it('a FreeBSD job over its time limit ends timed_out (exit 124)', async () => {
      const r = await kiln(
        ['run', '--platform', 'freebsd-amd64', '--timeout', '2', '--', 'sleep', '600'],
        opts,
      );
      assert.equal(r.code, 124, r.stderr);
      assert.match(r.stderr, /time limit/);
    });

    it('places freebsd-* jobs only on FreeBSD builders, and Linux jobs never there', async () => {
      const ids: string[] = [];
      for (const platform of ['freebsd-amd64', 'linux-x86_64', 'freebsd-amd64', 'linux-x86_64']) {
        const r = await kiln(['run', '--detach', '--platform', platform, '--', 'true'], opts);
        assert.equal(r.code, 0, r.stderr);
        ids.push(r.stdout.trim());
      }
      for (const [i, id] of ids.entries()) {
        const done = JSON.parse((await kiln(['status', '--json', '--wait', '60', id], opts)).stdout) as {
          state: string;
          builder?: string;
        };
        assert.equal(done.state, 'succeeded');
        if (i % 2 === 0) assert.equal(done.builder, bsd.id);
        else assert.notEqual(done.builder, bsd.id);
      }
      const none = await kiln(['run', '--platform', 'freebsd-aarch64', '--', 'true'], opts);
      assert.notEqual(none.code, 0);
      assert.match(none.stderr, /no live builder|capacity|freebsd-aarch64/i);
    });
  },
);
