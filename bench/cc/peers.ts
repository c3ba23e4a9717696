/**
 * The peers kiln is measured against: a distccd on 127.0.0.1 (the cold peer: remote compiles on
 * the same machine) and ccache with its local disk cache (the warm peer, direct mode on, as
 * Debian ships it).
 */
import { spawn } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../wiring/free-port.ts';
import { canConnect, cleanups, groupPids, procCpuMs, run, sleep } from './proc.ts';

/** ccache is the warm peer when installed (`apt-get install ccache`); its rows are left out otherwise. */
export async function hasCcache(): Promise<boolean> {
  return (await run('ccache', ['--version'])).code === 0;
}

/** The tools bench:cc runs, by command, with their Debian packages. */
const TOOLS: [string, string][] = [
  ['distcc', 'distcc'],
  ['distccd', 'distcc'],
  ['ccache', 'ccache'],
  ['cmake', 'cmake'],
  ['ninja', 'ninja-build'],
  ['make', 'make'],
];

/**
 * Installs the peers and build tools that are missing (as root, with apt-get), or says how:
 * a machine set up for the tests alone has no distcc or ccache.
 */
export async function ensureTools(): Promise<void> {
  const has = async (cmd: string): Promise<boolean> =>
    (await run('sh', ['-c', `command -v ${cmd}`])).code === 0;
  const missing = [
    ...new Set(
      (await Promise.all(TOOLS.map(async ([c, p]) => ((await has(c)) ? null : p)))).filter(
        (p): p is string => p !== null,
      ),
    ),
  ];
  if (!missing.length) return;
  const cmd = `apt-get install -y --no-install-recommends ${missing.join(' ')}`;
  if (process.getuid?.() !== 0 || !(await has('apt-get')))
    throw new Error(`bench:cc needs ${missing.join(', ')}: as root, run  apt-get update && ${cmd}`);
  console.log(`installing what bench:cc needs: apt-get update && ${cmd}`);
  const r = await run('sh', ['-c', `apt-get update -qq && DEBIAN_FRONTEND=noninteractive ${cmd} -qq`]);
  if (r.code !== 0) throw new Error(`${cmd} failed:\n${r.stderr.slice(-2000)}`);
}

export interface Distccd {
  hosts: string;
  /** CPU so far of distccd and its workers. */
  cpuMs(): Promise<number>;
  log: string;
  clientDir: string;
  stop(): Promise<void>;
}

export async function startDistccd(jobs: number): Promise<Distccd> {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-bench-distcc-'));
  await chmod(dir, 0o777); // distccd opens its log after dropping to --user
  const clientDir = join(dir, 'client');
  await mkdir(clientDir);
  const log = join(dir, 'distccd.log');
  const port = await freePort();
  const args = ['--daemon', '--no-detach', '--listen', '127.0.0.1', '--port', String(port)];
  args.push('--allow', '127.0.0.1', '--jobs', String(jobs), '--log-file', log, '--log-level', 'info');
  if (process.getuid?.() === 0) args.push('--user', 'nobody');
  // Its own process group: distccd preforks workers, and stop() ends them all.
  const child = spawn('distccd', args, { stdio: 'ignore', detached: true });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  let spawnError: Error | null = null;
  child.once('error', (e) => (spawnError = e));
  const kill = (sig: NodeJS.Signals): void => {
    try {
      process.kill(-child.pid!, sig);
    } catch {
      // already gone
    }
  };
  const stop = async (): Promise<void> => {
    cleanups.delete(stop);
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      kill('SIGTERM');
      const t = setTimeout(() => kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    }
    await rm(dir, { recursive: true, force: true });
  };
  cleanups.add(stop);
  for (let i = 0; i < 100; i++) {
    if (spawnError || child.exitCode !== null) break;
    if (await canConnect(port)) {
      const cpuMs = async (): Promise<number> => procCpuMs(await groupPids(child.pid!));
      return { hosts: `127.0.0.1:${port}/${jobs}`, cpuMs, log, clientDir, stop };
    }
    await sleep(50);
  }
  const text = await readFile(log, 'utf8').catch(() => '');
  await stop();
  throw new Error(`distccd did not start (${spawnError ?? `exit ${child.exitCode}`}): ${text.slice(-1000)}`);
}

/** What distccd did, from its log, and how many compiles the client ran locally, from the build's. */
export async function distccCounts(
  d: Distccd,
  buildLog: string,
): Promise<{ remote: number; fallbacks: number; failed: number }> {
  await sleep(200); // the log's last lines
  const log = await readFile(d.log, 'utf8').catch(() => '');
  return {
    remote: log.match(/COMPILE_OK/g)?.length ?? 0,
    failed: log.match(/COMPILE_ERROR|FAILED/g)?.length ?? 0,
    // One line per compile it ran here instead ("failed to distribute …, running locally instead").
    fallbacks: buildLog.split('\n').filter((l) => l.includes('failed to distribute')).length,
  };
}

/** Zeroes ccache's counters of the cache in `env` (not the cache): the next counts are one build's. */
export async function ccacheZero(env: NodeJS.ProcessEnv): Promise<void> {
  await run('ccache', ['--zero-stats'], { env });
}

/** ccache's hit counts since the counters were zeroed, for the cache in `env`. */
export async function ccacheCounts(env: NodeJS.ProcessEnv): Promise<{ hits: number; detail: string }> {
  const st = await run('ccache', ['--print-stats'], { env });
  const num = (k: string): number => Number(new RegExp(`^${k}\\t(\\d+)`, 'm').exec(st.stdout)?.[1] ?? 0);
  return {
    hits: num('direct_cache_hit') + num('preprocessed_cache_hit'),
    detail: `ccache: ${num('direct_cache_hit')} direct + ${num('preprocessed_cache_hit')} preprocessed hits, ${num('cache_miss')} misses`,
  };
}
