/**
 * Job creations per second through ONE Node gateway (`kiln gateway`, its own process), with 100
 * registered builders of ample slots that never pull (the job is created, placed, recorded and
 * enqueued; nothing runs). The load comes from this process over keep-alive connections: on a
 * 2-core machine it shares the CPU with the gateway and redis-server, so the figure is a floor.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFile, mkdtemp, rm } from 'node:fs/promises';
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
): Promise<{ port: number; stop(): void }> {
  const port = await freePort();
  const file = join(dir, 'gateway.toml');
  const cfg = {
    listen: { host: '127.0.0.1', port },
    redis: { url: redisUrl, prefix },
    storage: { type: 'local', dir: join(dir, 'store') },
    auth: { methods: [{ type: 'token', tokens: [{ token, sub: 'bench', tenant: 'bench' }] }] },
  };
  await writeFile(file, stringify(cfg));
  const child = spawn(process.execPath, [KILN, 'gateway', '--config', file], {
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
  return { port, stop: () => child.kill('SIGTERM') };
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
    let bad = 0;
    const t0 = performance.now();
    const end = t0 + seconds * 1000;
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        while (performance.now() < end) {
          const s = performance.now();
          const status = await post(agent, gw.port, token, body);
          lat.push(performance.now() - s);
          if (status !== 201) bad++;
        }
      }),
    );
    const s = summarise(lat, performance.now() - t0);
    console.log(
      `\njob creations through one Node gateway (${IN_FLIGHT} in flight, POST /api/v1/jobs, 100 builders): ` +
        `${Math.round(s.perSec)} jobs/s p50 ${s.p50.toFixed(2)} ms p99 ${s.p99.toFixed(2)} ms` +
        (bad > 0 ? ` (${bad} answers not 201)` : ''),
    );
  } finally {
    agent.destroy();
    gw.stop();
    conn.disconnect();
    await rm(dir, { recursive: true, force: true });
  }
}
