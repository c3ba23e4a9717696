/**
 * Round-trip latency of a no-op job (`POST /api/v1/jobs?wait=30` of `{"argv":["true"]}`: no
 * inputs, no toolchain, no outputs) through a local farm (redis-server, Node gateway, bwrap
 * builders), with 1 and 4 concurrent clients, side by side with what the same no-op costs
 * locally: a plain spawn, and a spawn inside the same bwrap sandbox (the builder's floor).
 * Below each, where the time went: the sandbox's own steps (SandboxResult.steps), and for the
 * farm the legs between the job's timestamps (created, started, finished; one clock, ms), and in
 * detail between the points of the builder's trace of each job (the job hash's `trace`: pulled,
 * claimed, sandbox start and end, result written; builders/core/run-job.ts). Then
 * what signed results cost per job (bench/sign-cost.ts): the builder's sign and the client's
 * verify, in microseconds, beside the no-op round trip. The farm rows are run twice: with fetch
 * (undici), and with kiln's own HTTP client (client/http.ts, what `kiln run` and `kiln cc` use).
 *
 *   npm run bench:overhead -- [--jobs N]
 */
import { spawn } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { startDevFarm } from '../wiring/dev-farm.ts';
import { redisKeys } from '../protocol/keys.ts';
import { createBwrapRunner } from '../builders/linux/bwrap-runner.ts';
import { limitsSchema } from '../protocol/job.ts';
import { HEADER, row, summarise, type Summary } from './stats.ts';
import { signCosts, signRows } from './sign-cost.ts';
import { send } from '../client/http.ts';

const jobsArg = process.argv.indexOf('--jobs');
const N = jobsArg > 0 ? Number(process.argv[jobsArg + 1]) : 200;

/** Median of each named step over many runs, printed as one line. */
function breakdown(label: string, runs: Record<string, number>[]): string {
  const names = [...new Set(runs.flatMap((r) => Object.keys(r)))];
  const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
  const parts = names.map((n) => `${n} ${med(runs.map((r) => r[n] ?? 0)).toFixed(1)}`);
  return `  ${label} (median ms): ${parts.join(', ')}`;
}

async function timed(n: number, concurrency: number, once: () => Promise<void>): Promise<Summary> {
  const lat: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        next++;
        const s = performance.now();
        await once();
        lat.push(performance.now() - s);
      }
    }),
  );
  return summarise(lat, performance.now() - t0);
}

function spawnTrue(): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = spawn('/bin/true', { stdio: 'ignore' });
    c.on('exit', () => resolve());
    c.on('error', reject);
  });
}

async function main(): Promise<void> {
  console.log(
    `kiln bench/overhead: ${N} no-op jobs (argv: true) per row, 2 builders × 4 slots, this machine`,
  );
  const farm = await startDevFarm({ builders: 2, slots: 4, port: 0 });
  const runner = createBwrapRunner();
  const scratch = await mkdtemp(join(tmpdir(), 'kiln-bench-'));
  await chmod(scratch, 0o711);
  try {
    const headers = { Authorization: `Bearer ${farm.token}`, 'Content-Type': 'application/json' };
    const body = JSON.stringify({ argv: ['true'] });
    type View = { state: string; createdAt: string; startedAt: string; finishedAt: string };
    let legs: Record<string, number>[] = [];
    const keys = redisKeys(farm.prefix);
    const conn = new Redis(farm.redis.url);
    /** Each job's times (ms since the epoch): sent and answered here, created by the gateway. */
    let times: { id: string; sent: number; created: number; got: number }[] = [];
    /** The legs between the builder's trace points, read after the row (not while it is timed). */
    const detail = async (): Promise<Record<string, number>[]> =>
      Promise.all(
        times.map(async (t) => {
          const p = JSON.parse((await conn.hget(keys.job(t.id), 'trace')) ?? '{}') as Record<string, number>;
          return {
            'request to record': t.created - t.sent,
            'record to pulled': p.pulled! - t.created,
            'pulled to claimed': p.claimed! - p.pulled!,
            'claimed to sandbox': p.sandbox! - p.claimed!,
            'sandbox run': p.ran! - p.sandbox!,
            'ran to reporting': p.reporting! - p.ran!,
            'reporting to client': t.got - p.reporting!,
          };
        }),
      );
    type Answer = { status: number; body: { job?: View & { id: string } } };
    const viaFetch = async (): Promise<Answer> => {
      const res = await fetch(`${farm.url}/api/v1/jobs?wait=30`, { method: 'POST', headers, body });
      return { status: res.status, body: (await res.json()) as Answer['body'] };
    };
    const api = { base: farm.url, token: farm.token };
    const viaKiln = async (): Promise<Answer> => {
      const res = await send(api, '/api/v1/jobs?wait=30', { method: 'POST', json: { argv: ['true'] } });
      return { status: res.status, body: await res.json<Answer['body']>() };
    };
    let via = viaFetch;
    const farmJob = async (): Promise<void> => {
      const sent = Date.now();
      const sentAt = performance.timeOrigin + performance.now();
      const { status, body: j } = await via();
      const got = Date.now();
      const gotAt = performance.timeOrigin + performance.now();
      if (status !== 201 || j.job?.state !== 'succeeded')
        throw new Error(`job failed: ${status} ${JSON.stringify(j)}`);
      const [c, s, f] = [j.job.createdAt, j.job.startedAt, j.job.finishedAt].map((t) => Date.parse(t));
      times.push({ id: j.job.id, sent: sentAt, created: c!, got: gotAt });
      legs.push({
        'gateway: request to record': c! - sent,
        'queue: record to claim': s! - c!,
        'builder: claim to result': f! - s!,
        'back: result to client': got - f!,
      });
    };
    const steps: Record<string, number>[] = [];
    let k = 0;
    const sandboxed = async (which = runner): Promise<void> => {
      const jobDir = join(scratch, String(k++));
      await mkdir(jobDir);
      const r = await which.run({
        jobId: `bench-${k}`,
        jobDir,
        argv: ['true'],
        env: {},
        cwd: '.',
        limits: limitsSchema.parse({}),
        profile: 'default',
        onOutput: () => undefined,
        signal: new AbortController().signal,
      });
      if (r.exitCode !== 0) throw new Error('sandboxed true failed');
      if (r.steps) steps.push(r.steps);
    };
    await timed(20, 2, farmJob); // warm-up: connections, JIT, scripts loaded
    console.log(HEADER);
    console.log(row('local: spawn /bin/true', await timed(N, 1, spawnTrue)));
    console.log(
      row('local: bwrap sandbox + cgroup, true (1 client)', await timed(Math.min(N, 100), 1, sandboxed)),
    );
    console.log(breakdown('sandbox steps', steps));
    // The same, with a sandbox made ready ahead (what builders do by default: [sandbox] readyAhead);
    // the next one is made between runs, outside the time measured.
    steps.length = 0;
    const ready = createBwrapRunner({ ready: { dir: join(scratch, 'ready'), count: 1 } });
    const warm = async (): Promise<void> => {
      await ready.prepare!('default');
      const t = performance.now();
      await sandboxed(ready);
      readyLat.push(performance.now() - t);
    };
    const readyLat: number[] = [];
    const t0 = performance.now();
    for (let i = 0; i < Math.min(N, 100); i++) await warm();
    console.log(
      row('local: bwrap sandbox made ready ahead, true', summarise(readyLat, performance.now() - t0)),
    );
    console.log(breakdown('sandbox steps', steps));
    await ready.close!();
    let one: Summary | undefined;
    for (const [client, how] of [
      ['', viaFetch],
      [', kiln http', viaKiln],
    ] as const) {
      via = how;
      await timed(20, 2, farmJob); // this client's connections and JIT
      for (const clients of [1, 4]) {
        legs = [];
        times = [];
        const s = await timed(N, clients, farmJob);
        one ??= s;
        const who = `${clients} client${clients > 1 ? 's' : ''}${client}`;
        console.log(row(`farm: POST /jobs?wait (${who})`, s));
        console.log(breakdown('legs', legs));
        console.log(breakdown('legs in detail', await detail()));
      }
    }
    conn.disconnect();
    console.log('');
    for (const line of signRows(await signCosts(), one!.p50)) console.log(line);
  } finally {
    await rm(scratch, { recursive: true, force: true });
    await farm.stop();
  }
}

await main();
