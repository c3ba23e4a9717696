/**
 * End to end through a real local farm (redis-server, gateway, bwrap builders as processes) with
 * the kiln CLI run in-process.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDevFarm, type DevFarm } from '../../wiring/dev-farm.ts';
import { kiln } from '../helpers/cli.ts';
import { farmRedis } from '../helpers/redis-mode.ts';

describe('kiln CLI against a local farm', { timeout: 170_000 }, () => {
  let farm: DevFarm;
  let work: string;
  let opts: { url: string; token: string; cwd: string };

  before(async () => {
    farm = await startDevFarm({
      builders: 2,
      slots: 2,
      port: 0,
      leaseMs: 1500,
      limits: { sweepMs: 250 },
      ...farmRedis,
    });
    work = await mkdtemp(join(tmpdir(), 'kiln-e2e-'));
    opts = { url: farm.url, token: farm.token, cwd: work };
  });
  after(async () => {
    await farm?.stop();
    await rm(work, { recursive: true, force: true });
  });

  it('compiles a C file in the sandbox and downloads the object', async () => {
    const src = join(work, 'src');
    await mkdir(join(src, 'include'), { recursive: true });
    await writeFile(join(src, 'include', 'greet.h'), '#define GREETING "hello from the farm"\n');
    await writeFile(
      join(src, 'hello.c'),
      '#include <stdio.h>\n#include "greet.h"\nint main(void){puts(GREETING);return 0;}\n',
    );
    const r = await kiln(
      [
        'run',
        '--input',
        'src',
        '--output',
        'hello.o',
        '--output',
        'hello',
        '--',
        'sh',
        '-c',
        'gcc -Iinclude -c hello.c -o hello.o && gcc -o hello hello.o && echo built',
      ],
      opts,
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'built\n');
    assert.match(
      execFileSync('file', [join(src, 'hello.o')], { encoding: 'utf8' }),
      /ELF 64-bit LSB relocatable/,
    );
    assert.equal(execFileSync(join(src, 'hello'), { encoding: 'utf8' }), 'hello from the farm\n');
  });

  it('re-running after changing one input file uploads only that file (and the new manifest)', async () => {
    const src = join(work, 'cas');
    await mkdir(join(src, 'lib'), { recursive: true });
    await writeFile(join(src, 'big.dat'), Buffer.alloc(300_000, 7));
    await writeFile(join(src, 'lib', 'a.c'), 'int a;\n');
    await writeFile(join(src, 'b.c'), 'int b;\n');
    type Out = { state: string; upload: { bytes: number; blobs: number } };
    const first = await kiln(['run', '--json', '--input', 'cas', '--', 'cat', 'lib/a.c'], opts);
    assert.equal(first.code, 0, first.stderr);
    const f = JSON.parse(first.stdout) as Out;
    assert.equal(f.upload.blobs, 4, 'three files and the manifest');
    assert.ok(f.upload.bytes > 300_000);
    await writeFile(join(src, 'b.c'), 'int b = 2;\n');
    const second = JSON.parse(
      (await kiln(['run', '--json', '--input', 'cas', '--', 'cat', 'b.c'], opts)).stdout,
    ) as Out;
    assert.equal(second.state, 'succeeded');
    assert.equal(second.upload.blobs, 2, 'the changed file and the new manifest');
    assert.ok(second.upload.bytes < 1000, `only a few hundred bytes moved, not ${second.upload.bytes}`);
    const third = JSON.parse(
      (await kiln(['run', '--json', '--input', 'cas', '--', 'true'], opts)).stdout,
    ) as Out;
    assert.deepEqual(third.upload, { bytes: 0, blobs: 0 });
  });

  it('propagates exit codes and a compile error’s diagnostics', async () => {
    assert.equal((await kiln(['run', '--', 'sh', '-c', 'exit 7'], opts)).code, 7);
    assert.equal((await kiln(['run', '--', 'true'], opts)).code, 0);
    const src = join(work, 'bad');
    await mkdir(src, { recursive: true });
    await writeFile(join(src, 'bad.c'), 'int main(void) { return 0 }\n');
    const r = await kiln(['run', '--input', 'bad', '--', 'gcc', '-c', 'bad.c'], opts);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /bad\.c:1:\d+: error: expected .;. before .}. token/);
  });

  it('kiln logs -f: two concurrent readers see a 3 s job live, each from the start', async () => {
    const script = 'for i in 1 2 3 4 5 6; do echo tick $i; sleep 0.5; done';
    const started = await kiln(['run', '--detach', '--', 'sh', '-c', script], opts);
    assert.equal(started.code, 0, started.stderr);
    const id = started.stdout.trim();
    const a = kiln(['logs', '-f', id], opts);
    // The second reader joins once the job has printed its first line (and is still running).
    for (let seen = ''; !seen.includes('tick 1');) {
      const r = await fetch(`${farm.url}/api/v1/jobs/${id}/logs?format=raw`, {
        headers: { Authorization: `Bearer ${farm.token}` },
      });
      seen = await r.text();
      if (!seen.includes('tick 1')) await new Promise((r) => setTimeout(r, 50));
    }
    const mid = JSON.parse((await kiln(['status', '--json', id], opts)).stdout) as { state: string };
    assert.equal(mid.state, 'running', 'the second reader joins while the job runs');
    const b = kiln(['logs', '-f', id], opts);
    const expected = [1, 2, 3, 4, 5, 6].map((i) => `tick ${i}\n`).join('');
    const [ra, rb] = await Promise.all([a, b]);
    assert.equal(ra.stdout, expected);
    assert.equal(rb.stdout, expected);
  });

  it('kiln stop ends a sleep 600 job within the grace period: killed', async () => {
    const started = await kiln(['run', '--detach', '--', 'sleep', '600'], opts);
    const id = started.stdout.trim();
    let state = '';
    for (let i = 0; i < 100 && state !== 'running'; i++) {
      state = (JSON.parse((await kiln(['status', '--json', id], opts)).stdout) as { state: string }).state;
      if (state !== 'running') await new Promise((r) => setTimeout(r, 100));
    }
    const stop = await kiln(['stop', '--json', id], opts);
    assert.equal(stop.code, 0, stop.stderr);
    assert.equal((JSON.parse(stop.stdout) as { state: string }).state, 'killed');
  });

  it('a job over its time limit ends timed_out (exit 124)', async () => {
    const r = await kiln(['run', '--timeout', '1', '--', 'sleep', '30'], opts);
    assert.equal(r.code, 124, r.stderr);
    assert.match(r.stderr, /time limit/);
  });

  it('inside a job: no farm Redis, no builder config, no /root, no writes outside, not root on the host', async () => {
    const port = farm.redis.port;
    const checks = [
      `(exec 3<>/dev/tcp/127.0.0.1/${port}) 2>/dev/null && echo redis-reachable || echo redis-blocked`,
      `cat ${join(farm.dataDir, 'builder-0.toml')} >/dev/null 2>&1 && echo config-readable || echo config-blocked`,
      `ls /root >/dev/null 2>&1 && echo root-readable || echo root-blocked`,
      `(echo x > /usr/kiln-escape) 2>/dev/null && echo usr-writable || echo usr-blocked`,
      `(echo x > /kiln-escape) 2>/dev/null && echo slash-writable || echo slash-blocked`,
    ];
    const r = await kiln(['run', '--', 'bash', '-c', checks.join('; ')], opts);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.deepEqual(lines, [
      'redis-blocked',
      'config-blocked',
      'root-blocked',
      'usr-blocked',
      'slash-blocked',
    ]);
  });

  it('a job’s processes run as a non-root uid on the host', async () => {
    const probe = `kiln-probe-${process.pid}-${Date.now()}`;
    const started = await kiln(['run', '--detach', '--', 'bash', '-c', `exec -a ${probe} sleep 5`], opts);
    assert.equal(started.code, 0, started.stderr);
    let uids: string[] = [];
    for (let i = 0; i < 60 && uids.length === 0; i++) {
      const ps = execFileSync('ps', ['-eo', 'uid=,args='], { encoding: 'utf8' });
      uids = ps
        .split('\n')
        .filter((l) => l.includes(`${probe} 5`))
        .map((l) => l.trim().split(/\s+/)[0]!);
      if (uids.length === 0) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(uids.length > 0, 'the job process was seen on the host');
    for (const uid of uids) assert.notEqual(uid, '0');
    await kiln(['stop', started.stdout.trim()], opts);
  });

  it('a builder killed with SIGKILL mid-job: the job completes on another builder, the client gets the result once', async () => {
    const dir = join(work, 'lost');
    await mkdir(dir, { recursive: true });
    const script = 'echo start; sleep 4; echo finished > result.txt; echo done';
    const loads = async () =>
      (
        await fetch(`${farm.url}/api/v1/status`, {
          headers: { Authorization: `Bearer ${farm.token}` },
        }).then((r) => r.json() as Promise<{ builders: { id: string; load: number }[] }>)
      ).builders;
    // A job stopped by the test before may still hold its slot for a moment: the victim must be
    // the builder that takes this job, so start from a farm with nothing running.
    const idle = Date.now() + 10_000;
    while ((await loads()).some((b) => b.load > 0) && Date.now() < idle)
      await new Promise((r) => setTimeout(r, 100));
    assert.ok(!(await loads()).some((b) => b.load > 0), 'the farm is idle before the job starts');
    const run = kiln(['run', '--input', 'lost', '--output', 'result.txt', '--', 'sh', '-c', script], opts);
    // Find the builder running it, then kill that builder's process outright.
    const deadline = Date.now() + 10_000;
    let victim: string | null = null;
    while (!victim && Date.now() < deadline) {
      victim = (await loads()).find((b) => b.load > 0)?.id ?? null;
      if (!victim) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(victim, 'a builder took the job');
    await new Promise((r) => setTimeout(r, 500));
    const child = [...farm.builderIds].find(([, id]) => id === victim)?.[0];
    assert.ok(child, 'the victim is one of our builder processes');
    child.kill('SIGKILL');
    const r = await run;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /restarted on another builder \(attempt 2\)/);
    assert.equal(r.stdout.match(/done/g)?.length, 1, `one result only: ${JSON.stringify(r.stdout)}`);
    assert.equal(await readFile(join(dir, 'result.txt'), 'utf8'), 'finished\n');
    await farm.addBuilder(); // keep two builders for whatever runs next
  });
});
