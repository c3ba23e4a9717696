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
  child: ChildProcess;
  stop(): Promise<void>;
}

/** Starts `redis-server` (no persistence) and waits until it accepts connections. */
export async function startLocalRedis(bin = 'redis-server'): Promise<LocalRedis> {
  if (spawnSync(bin, ['--version']).error) {
    throw new KilnError(
      'ERR_UNAVAILABLE',
      `${bin} is not installed: run \`apt-get install redis-server\` (Debian/Ubuntu) and try again`,
    );
  }
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'kiln-redis-'));
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
    '--dir',
    dir,
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
    child,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const gone = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await gone;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
