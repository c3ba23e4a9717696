/**
 * Job creations per second through ONE Node gateway (`kiln gateway`, its own process), with 100
 * registered builders of ample slots that never pull (the job is created, placed, recorded and
 * enqueued; nothing runs). The load comes from this process over keep-alive connections: on a
 * 2-core machine it shares the CPU with the gateway and redis-server, so the figure is a floor.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { stringify } from 'smol-toml';
import { createRedisBuilderFarm } from '../redis/builder-farm.ts';
import { freePort } from '../wiring/free-port.ts';
import { summarise } from './stats.ts';

const KILN = new URL('../client/bin/kiln.js', import.meta.url).pathname;
const IN_FLIGHT = 64;

function post(agent: Agent, port: number, token: string, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        agent,
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/api/v1/jobs',
        headers: {
          Authorization: `Bearer ${token}`,
          'Content-Type': 'application/json',
          'Content-Length': Buffer.byteLength(body),
        },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function startGateway(
  redisUrl: string,
  prefix: string,
  token: string,
  dir: string,
): Promise<{ port: number; pid: number; stop(): Promise<void> }> {
  const port = await freePort();
  const file = join(dir, 'gateway.toml');
  const cfg = {
    listen: { host: '127.0.0.1', port },
    redis: { url: redisUrl, prefix },
    storage: { type: 'local', dir: join(dir, 'store') },
    auth: { methods: [{ type: 'token', tokens: [{ token, sub: 'bench', tenant: 'bench' }] }] },
    // The bench measures the gateway, not the tenant quotas: the default per-tenant creation rate
    // (200/s) and jobs in flight (1,024; these jobs never finish) would answer most requests 429.
    policy: { max: { createPerSec: 100_000, jobsInFlight: 1_000_000 } },
  };
  await writeFile(file, stringify(cfg));
  // KILN_BENCH_CPU_PROF=DIR: the gateway writes a V8 CPU profile there when it stops.
  const prof = process.env.KILN_BENCH_CPU_PROF;
  const flags = prof ? ['--cpu-prof', '--cpu-prof-dir', prof] : [];
  const child = spawn(process.execPath, [...flags, KILN, 'gateway', '--config', file], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  await new Promise<void>((resolve, reject) => {
    let err = '';
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      if (/listening on/.test(err)) resolve();
    });
    child.once('exit', (code) => reject(new Error(`gateway exited (${code}): ${err.slice(-800)}`)));
  });
  child.stderr.resume();
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return {
    port,
    pid: child.pid!,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** CPU seconds a process has used so far (Linux /proc; utime + stime). */
async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100; // fields 14 and 15, in USER_HZ (100 on Linux)
}

/** CPU seconds redis-server has used so far (INFO cpu). */
async function redisCpuSeconds(conn: Redis): Promise<number> {
  const info = await conn.info('cpu');
  const v = (k: string): number => Number(new RegExp(`${k}:([\\d.]+)`).exec(info)?.[1] ?? 0);
  return v('used_cpu_sys') + v('used_cpu_user');
}

/** Prints `job creations: X/s p50 A ms p99 B ms` for one gateway. */
export async function benchJobCreation(redisUrl: string, seconds: number): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-scale-'));
  const prefix = `bench-${randomBytes(4).toString('hex')}`;
  const token = randomBytes(16).toString('base64url');
  const conn = new Redis(redisUrl);
  const port = createRedisBuilderFarm({ redis: conn, pull: conn, sub: conn }, prefix);
  for (let i = 0; i < 100; i++) {
    await port.register(
      {
        id: `gw-bench-${i}`,
        name: `gw-bench-${i}`,
        platform: 'linux-x86_64',
        slots: 1_000_000,
        version: 'bench',
        hostname: 'bench',
        draining: false,
        warm: [],
        startedAt: new Date().toISOString(),
      },
      randomBytes(32),
      600_000,
    );
  }
  const gw = await startGateway(redisUrl, prefix, token, dir);
  const agent = new Agent({ keepAlive: true, maxSockets: IN_FLIGHT });
  const body = JSON.stringify({ argv: ['true'] });
  try {
    for (let i = 0; i < 200; i++) await post(agent, gw.port, token, body); // warm up
    const lat: number[] = [];
    const bad = new Map<number, number>();
    const cpu0 = [await cpuSeconds(gw.pid), await redisCpuSeconds(conn), process.cpuUsage()] as const;
    const t0 = performance.now();
    const end = t0 + seconds * 1000;
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        while (performance.now() < end) {
          const s = performance.now();
          const status = await post(agent, gw.port, token, body);
          lat.push(performance.now() - s);
          if (status !== 201) bad.set(status, (bad.get(status) ?? 0) + 1);
        }
      }),
    );
    const s = summarise(lat, performance.now() - t0);
    const us = (sec: number): string => `${Math.round((sec * 1e6) / lat.length)} µs`;
    const own = process.cpuUsage(cpu0[2]);
    const cpu = [
      `gateway ${us((await cpuSeconds(gw.pid)) - cpu0[0])}`,
      `redis-server ${us((await redisCpuSeconds(conn)) - cpu0[1])}`,
      `this load generator ${us((own.user + own.system) / 1e6)}`,
    ];
    console.log(
      `\njob creations through one Node gateway (${IN_FLIGHT} in flight, POST /api/v1/jobs, 100 builders): ` +
        `${Math.round(s.perSec)} jobs/s p50 ${s.p50.toFixed(2)} ms p99 ${s.p99.toFixed(2)} ms` +
        (bad.size > 0 ? ` (answers not 201: ${[...bad].map(([st, n]) => `${n} × ${st}`).join(', ')})` : ''),
    );
    console.log(`  CPU per creation (independent of the machine's other load): ${cpu.join(', ')}`);
  } finally {
    agent.destroy();
    await gw.stop();
    conn.disconnect();
    await rm(dir, { recursive: true, force: true });
  }
}
