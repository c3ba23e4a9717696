/** A private redis-server child process on a free loopback port (kiln dev and the tests). */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { freePort } from './free-port.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KilnError } from '../protocol/errors.ts';

export interface LocalRedis {
  url: string;
  port: number;
  /** Its data directory (the AOF lives there with `appendonly`). */
  dir: string;
  child: ChildProcess;
  /** Set when it is a Redis Cluster (wiring/redis-cluster.ts): every master, `host:port`. */
  cluster?: string[];
  /** Stops the server and removes its data directory (unless the caller gave one). */
  stop(): Promise<void>;
}

/** The `[redis]` section of a farm process that uses `local` under `prefix`. */
export function redisSection(
  local: LocalRedis,
  prefix: string,
): { url: string; prefix: string; cluster?: string[] } {
  return { url: local.url, prefix, ...(local.cluster ? { cluster: local.cluster } : {}) };
}

export interface LocalRedisOptions {
  /** @default "redis-server" */
  bin?: string;
  /** @default a free port */
  port?: number;
  /** Data directory; kept by stop() when given (a restart reads its AOF). @default a temp dir */
  dir?: string;
  /** Persist every write to an AOF (`appendfsync always`). @default false */
  appendonly?: boolean;
  /** More `--name value` arguments. */
  extraArgs?: string[];
}

/** Starts `redis-server` (no persistence unless asked) and waits until it accepts connections. */
export async function startLocalRedis(opts: LocalRedisOptions | string = {}): Promise<LocalRedis> {
  const o = typeof opts === 'string' ? { bin: opts } : opts;
  const bin = o.bin ?? 'redis-server';
  if (spawnSync(bin, ['--version']).error) {
    throw new KilnError(
      'ERR_UNAVAILABLE',
      `${bin} is not installed: run \`apt-get install redis-server\` (Debian/Ubuntu) and try again`,
    );
  }
  const port = o.port ?? (await freePort());
  const dir = o.dir ?? mkdtempSync(join(tmpdir(), 'kiln-redis-'));
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    o.appendonly ? 'yes' : 'no',
    ...(o.appendonly ? ['--appendfsync', 'always'] : []),
    '--dir',
    dir,
    ...(o.extraArgs ?? []),
  ];
  // With setpriv (util-linux), the server dies with us even if we are SIGKILLed.
  const withParent = spawnSync('setpriv', ['--pdeathsig', 'TERM', 'true']).status === 0;
  const child = withParent
    ? spawn('setpriv', ['--pdeathsig', 'TERM', bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const onData = (d: Buffer): void => {
      out += d.toString();
      if (out.includes('Ready to accept connections')) resolve();
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) =>
      reject(new KilnError('ERR_UNAVAILABLE', `redis-server exited (${code}): ${out.slice(-500)}`)),
    );
  });
  child.stdout?.removeAllListeners('data').resume();
  child.stderr?.removeAllListeners('data').resume();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    child,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const gone = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await gone;
      }
      if (!o.dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}
