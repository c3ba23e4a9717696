/**
 * A private Redis Cluster on loopback (tests, benches and a dev farm that wants the production
 * shape): N `redis-server --cluster-enabled yes` children on free ports, joined with `redis-cli
 * --cluster create` (N masters, no replicas), ready once every node says `cluster_state:ok`.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KilnError } from '../protocol/errors.ts';
import { freePort } from './free-port.ts';
import type { LocalRedis } from './redis-server.ts';

/** A cluster: `url` names its first master, `cluster` lists every master (`host:port`). */
export interface LocalRedisCluster extends LocalRedis {
  cluster: string[];
  /** Every node's process, in the order of `cluster`. */
  children: ChildProcess[];
  /** Starts node `i` again on its port with its cluster config and AOF (after it was killed). */
  restartNode(i: number): Promise<void>;
}

export interface LocalClusterOptions {
  /** Persist every write of each node to an AOF (`appendfsync always`). @default false */
  appendonly?: boolean;
}

/** True when nothing listens on `port` of 127.0.0.1. */
function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** A port whose cluster-bus port (port + 10000) is free too. */
async function nodePort(): Promise<number> {
  for (;;) {
    const p = await freePort();
    if (p + 10000 <= 65535 && (await isFree(p + 10000))) return p;
  }
}

function startNode(port: number, dir: string, aof: boolean): Promise<ChildProcess> {
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--cluster-enabled', 'yes'];
  args.push('--cluster-config-file', join(dir, `nodes-${port}.conf`), '--dir', dir);
  args.push('--save', '', '--appendonly', aof ? 'yes' : 'no');
  args.push('--appendfilename', `aof-${port}.aof`, '--appenddirname', `aof-${port}`);
  if (aof) args.push('--appendfsync', 'always');
  // With setpriv (util-linux), the node dies with us even if we are SIGKILLed.
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
      reject(new KilnError('ERR_UNAVAILABLE', `redis-server ${port} exited (${code}): ${out.slice(-400)}`)),
    );
  });
}

function stopChild(c: ChildProcess): Promise<void> {
  return new Promise((r) => {
    if (c.exitCode !== null || c.signalCode !== null) return r();
    c.once('exit', () => r());
    c.kill('SIGTERM');
  });
}

/** True once `node` (host:port) reports every slot served. */
function clusterOk(node: string): boolean {
  const [host, port] = node.split(':') as [string, string];
  const r = spawnSync('redis-cli', ['-h', host, '-p', port, 'cluster', 'info'], { encoding: 'utf8' });
  return /cluster_state:ok/.test(r.stdout);
}

/** Starts an `n`-master cluster (3 by default) and waits until every node serves every slot. */
export async function startLocalCluster(n = 3, o: LocalClusterOptions = {}): Promise<LocalRedisCluster> {
  if (spawnSync('redis-cli', ['--version']).error) {
    throw new KilnError('ERR_UNAVAILABLE', 'redis-cli is not installed: run `apt-get install redis-server`');
  }
  const dir = mkdtempSync(join(tmpdir(), 'kiln-cluster-'));
  const children: ChildProcess[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(children.map(stopChild));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const ports: number[] = [];
    for (let i = 0; i < n; i++) ports.push(await nodePort());
    const aof = o.appendonly ?? false;
    children.push(...(await Promise.all(ports.map((p) => startNode(p, dir, aof)))));
    const nodes = ports.map((p) => `127.0.0.1:${p}`);
    const made = spawnSync('redis-cli', ['--cluster', 'create', ...nodes, '--cluster-yes'], {
      encoding: 'utf8',
    });
    if (made.status !== 0)
      throw new KilnError(
        'ERR_UNAVAILABLE',
        `redis-cli --cluster create failed: ${made.stdout}${made.stderr}`,
      );
    const deadline = Date.now() + 30_000;
    while (!nodes.every(clusterOk)) {
      if (Date.now() > deadline) throw new KilnError('ERR_UNAVAILABLE', 'the cluster did not become ready');
      await new Promise((r) => setTimeout(r, 100));
    }
    const restartNode = async (i: number): Promise<void> => {
      children[i] = await startNode(ports[i]!, dir, aof);
    };
    return {
      url: `redis://${nodes[0]}`,
      port: ports[0]!,
      dir,
      child: children[0]!,
      children,
      cluster: nodes,
      restartNode,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
