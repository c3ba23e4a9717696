/**
 * The same gateway on Node and on Deno, side by side: one farm (redis-server, local store, one
 * builder) whose gateway is a Node process (`kiln gateway`), a Deno gateway process with the
 * same config beside it, one finished job, then `GET /api/v1/jobs/{id}` hammered on each. The
 * load comes from this process (fetch, `--concurrency` requests in flight). Rounds alternate
 * between the runtimes so neither gets a quieter machine.
 *
 *   npm run bench:runtimes -- [--seconds 5] [--concurrency 16] [--rounds 2]
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { stringify } from 'smol-toml';
import type { GatewayConfig } from '../gateway/config.ts';
import { startDevFarm, type GatewayLauncher } from '../wiring/dev-farm.ts';
import { denoGatewayLauncher } from '../test/helpers/deno-gateway.ts';

const KILN_BIN = fileURLToPath(new URL('../client/bin/kiln.js', import.meta.url));

interface Running {
  url: string;
  close(): Promise<void>;
}

/** `kiln gateway --config <toml>` as a child process (Node), stopped with SIGTERM. */
function nodeChildLauncher(dir: string): GatewayLauncher {
  return async (cfg) => {
    const file = join(dir, 'gateway.toml');
    await writeFile(file, stringify(JSON.parse(JSON.stringify(cfg)) as Record<string, unknown>), {
      mode: 0o600,
    });
    const child = spawn(process.execPath, [KILN_BIN, 'gateway', '--config', file], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { PATH: process.env.PATH, HOME: process.env.HOME },
    });
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    const url = await new Promise<string>((resolve, reject) => {
      let buf = '';
      child.stderr.on('data', (d: Buffer) => {
        buf += d.toString();
        const m = /listening on (http:\/\/\S+)/.exec(buf);
        if (m) resolve(m[1]!);
      });
      child.once('exit', (code) => reject(new Error(`node gateway exited (${code}): ${buf}`)));
    });
    return {
      url,
      async close() {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const kill = setTimeout(() => child.kill('SIGKILL'), 5000);
        child.kill('SIGTERM');
        await exited;
        clearTimeout(kill);
      },
    };
  };
}

interface Result {
  requests: number;
  errors: number;
  seconds: number;
  p50: number;
  p99: number;
}

/** `concurrency` loops of GET for `seconds`; latencies in ms. */
async function hammer(
  base: string,
  id: string,
  token: string,
  seconds: number,
  concurrency: number,
): Promise<Result> {
  const url = `${base}/api/v1/jobs/${id}`;
  const lat: number[] = [];
  let errors = 0;
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  const headers = { Authorization: `Bearer ${token}` };
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const s = performance.now();
        const res = await fetch(url, { headers });
        const body = await res.text();
        if (res.status !== 200 || !body.includes(`"id":"${id}"`)) errors++;
        lat.push(performance.now() - s);
      }
    }),
  );
  const elapsed = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  const q = (p: number): number => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] ?? NaN;
  return { requests: lat.length, errors, seconds: elapsed, p50: q(0.5), p99: q(0.99) };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '5' },
      concurrency: { type: 'string', default: '16' },
      rounds: { type: 'string', default: '2' },
    },
  });
  const seconds = Number(values.seconds);
  const concurrency = Number(values.concurrency);
  const rounds = Number(values.rounds);
  const dir = await mkdtemp(join(tmpdir(), 'kiln-bench-rt-'));
  let cfg = null as GatewayConfig | null; // set by the launcher below
  // The farm's own gateway is the Node one measured; the Deno one gets the same config.
  const capture: GatewayLauncher = (c, log) => ((cfg = c), nodeChildLauncher(dir)(c, log));
  const farm = await startDevFarm({ port: 0, builders: 1, serveGateway: capture });
  let deno: Running | null = null;
  try {
    if (!cfg) throw new Error('the farm did not start a gateway');
    const headers = { Authorization: `Bearer ${farm.token}`, 'Content-Type': 'application/json' };
    const created = (await (
      await fetch(`${farm.url}/api/v1/jobs?wait=30`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ argv: ['sh', '-c', 'echo done'] }),
      })
    ).json()) as { job: { id: string; state: string } };
    const id = created.job.id;
    const job = (await (await fetch(`${farm.url}/api/v1/jobs/${id}?wait=30`, { headers })).json()) as {
      state: string;
      error: unknown;
    };
    // Any finished job will do: the bench reads its record, whatever the outcome.
    if (job.state === 'queued' || job.state === 'running') throw new Error(`the job is still ${job.state}`);
    if (job.state !== 'succeeded')
      console.error(`note: the job ended ${job.state}: ${JSON.stringify(job.error)}`);

    deno = await denoGatewayLauncher()(cfg, () => undefined);
    const gateways: [string, string][] = [
      ['Node', farm.url],
      ['Deno', deno.url],
    ];
    for (const [, url] of gateways) await hammer(url, id, farm.token, 1, concurrency); // warm-up

    const rows: string[][] = [];
    for (let r = 1; r <= rounds; r++) {
      for (const [name, url] of gateways) {
        const x = await hammer(url, id, farm.token, seconds, concurrency);
        rows.push([
          name,
          String(r),
          String(x.requests),
          String(x.errors),
          (x.requests / x.seconds).toFixed(0),
          x.p50.toFixed(2),
          x.p99.toFixed(2),
        ]);
      }
    }
    const head = ['runtime', 'round', 'requests', 'errors', 'req/s', 'p50 ms', 'p99 ms'];
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
    const line = (cells: string[]): string => cells.map((c, i) => c.padStart(widths[i]!)).join('  ');
    console.log(
      `GET /api/v1/jobs/{id}: ${seconds} s per round, ${concurrency} in flight, ` +
        `node ${process.versions.node}, ${await denoVersion()}`,
    );
    console.log(line(head));
    for (const row of rows) console.log(line(row));
  } finally {
    await deno?.close();
    await farm.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

/** `deno x.y.z` of the Deno that ran the gateway. */
async function denoVersion(): Promise<string> {
  const bin = fileURLToPath(new URL('../node_modules/.bin/deno', import.meta.url));
  const out = await new Promise<string>((resolve) => {
    const c = spawn(bin, ['--version'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let s = '';
    c.stdout.on('data', (d: Buffer) => (s += d.toString()));
    c.once('close', () => resolve(s));
  });
  return out.split('\n')[0] ?? 'deno ?';
}

await main();
