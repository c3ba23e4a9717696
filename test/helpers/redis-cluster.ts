/**
 * A real Redis Cluster on loopback for tests and benches: N `redis-server --cluster-enabled yes`
 * children on free ports, joined with `redis-cli --cluster create` (N masters, no replicas), and
 * an ioredis Cluster client (plus one in subscriber mode) that waits until every slot is served.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster } from 'ioredis';
import { freePort } from '../../wiring/free-port.ts';

export interface LocalCluster {
  /** `127.0.0.1:PORT` of each master. */
  nodes: string[];
  client: Cluster;
  sub: Cluster;
  /** Another client (for a subscriber that its user may close); stopped with the cluster. */
  newSub(): Cluster;
  stop(): Promise<void>;
}

function startNode(port: number, dir: string): Promise<ChildProcess> {
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--cluster-enabled', 'yes'];
  args.push('--cluster-config-file', join(dir, `nodes-${port}.conf`), '--dir', dir);
  args.push('--save', '', '--appendonly', 'no');
  const child = spawn('setpriv', ['--pdeathsig', 'TERM', 'redis-server', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('Ready to accept connections')) {
        child.stdout.removeAllListeners('data').resume();
        resolve(child);
      }
    });
    child.stderr.resume();
    child.once('exit', (code) =>
      reject(new Error(`redis-server ${port} exited (${code}): ${out.slice(-400)}`)),
    );
  });
}

/** Starts an `n`-master cluster and connects to it. */
export async function startLocalCluster(n = 3): Promise<LocalCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-cluster-'));
  const ports = await Promise.all(Array.from({ length: n }, () => freePort()));
  const children = await Promise.all(ports.map((p) => startNode(p, dir)));
  const nodes = ports.map((p) => `127.0.0.1:${p}`);
  const made = spawnSync('redis-cli', ['--cluster', 'create', ...nodes, '--cluster-yes'], {
    encoding: 'utf8',
  });
  if (made.status !== 0) throw new Error(`redis-cli --cluster create failed: ${made.stdout}${made.stderr}`);
  const startup = ports.map((port) => ({ host: '127.0.0.1', port }));
  const client = new Cluster(startup);
  const sub = new Cluster(startup);
  const extra: Cluster[] = [];
  // The cluster is usable once every node agrees all 16384 slots are covered.
  for (;;) {
    const info = String(await client.cluster('INFO'));
    if (/cluster_state:ok/.test(info)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    nodes,
    client,
    sub,
    newSub() {
      const c = new Cluster(startup);
      extra.push(c);
      return c;
    },
    async stop() {
      for (const c of [client, sub, ...extra]) c.disconnect();
      await Promise.all(
        children.map(
          (c) =>
            new Promise<void>((r) => {
              if (c.exitCode !== null) return r();
              c.once('exit', () => r());
              c.kill('SIGTERM');
            }),
        ),
      );
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
