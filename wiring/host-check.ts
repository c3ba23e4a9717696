/**
 * What `kiln host-check` looks at on a builder host, with that host's own builder.toml: Redis and
 * the store answer from here, bubblewrap is installed and runs, the job cgroups can be made, the
 * work disk has room, and which kiln this is. `kiln fleet check` runs it over SSH and adds what
 * only the operator's side knows (agent registered, clock against the gateway, expected version).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rmdir, statfs } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectRedis, redactUrl } from '../redis/connect.ts';
import { redisOptions } from './redis-options.ts';
import type { BuilderConfig } from '../builders/core/config.ts';
import { openStore } from './store.ts';
import { VERSION } from './version.ts';

export interface HostFault {
  code:
    | 'redis-unreachable'
    | 'store-unreachable'
    | 'bwrap-missing'
    | 'bwrap-broken'
    | 'cgroup-not-writable'
    | 'disk-nearly-full';
  message: string;
}

export interface HostReport {
  version: string;
  /** The directory this kiln runs from (the release). */
  release: string;
  name: string;
  faults: HostFault[];
  disk: { path: string; freeBytes: number; freePercent: number } | null;
}

export interface HostCheckOptions {
  /** A disk with less free space than this is nearly full. @default 10 */
  minFreePercent?: number;
  /** @default "/usr/bin/bwrap" */
  bwrapPath?: string;
  /** @default "/sys/fs/cgroup" */
  cgroupRoot?: string;
  /** Per check. @default 5000 */
  timeoutMs?: number;
}

const RELEASE = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');

function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  return Promise.race([
    p,
    new Promise<T>((_, reject) =>
      setTimeout(() => reject(new Error(`no answer within ${ms} ms (${what})`)), ms).unref(),
    ),
  ]);
}

function run(cmd: string, args: string[], ms: number): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    const timer = setTimeout(() => p.kill('SIGKILL'), ms);
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('error', (err) => resolve({ code: null, stderr: err.message }));
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr: stderr.trim() });
    });
  });
}

async function checkRedis(cfg: BuilderConfig, ms: number): Promise<HostFault | null> {
  try {
    const r = await connectRedis({
      ...redisOptions(cfg.redis),
      name: 'kiln-host-check',
      connectTimeoutMs: ms,
    });
    try {
      await within(ms, 'PING', r.ping());
    } finally {
      r.disconnect();
    }
    return null;
  } catch (err) {
    const m = (err as Error).message;
    return {
      code: 'redis-unreachable',
      message: m.includes(redactUrl(cfg.redis.url)) ? m : `Redis at ${redactUrl(cfg.redis.url)}: ${m}`,
    };
  }
}

async function checkStore(cfg: BuilderConfig, ms: number): Promise<HostFault | null> {
  try {
    await within(ms, 'store', openStore(cfg.storage).stat('health/ready-probe'));
    return null;
  } catch (err) {
    return { code: 'store-unreachable', message: `the ${cfg.storage.type} store: ${(err as Error).message}` };
  }
}

async function checkBwrap(bwrap: string, ms: number): Promise<HostFault | null> {
  if (!existsSync(bwrap)) {
    return { code: 'bwrap-missing', message: `${bwrap} is not installed (apt-get install bubblewrap)` };
  }
  const args = [
    '--unshare-all',
    '--die-with-parent',
    '--ro-bind',
    '/',
    '/',
    '--proc',
    '/proc',
    '--dev',
    '/dev',
  ];
  const r = await run(bwrap, [...args, 'true'], ms);
  if (r.code === 0) return null;
  return { code: 'bwrap-broken', message: `${bwrap} cannot make a sandbox: ${r.stderr || `exit ${r.code}`}` };
}

async function checkCgroups(root: string, parent: string): Promise<HostFault | null> {
  const v2 = existsSync(join(root, 'cgroup.controllers'));
  const dirs = v2 ? [join(root, parent)] : ['memory', 'pids'].map((c) => join(root, c, parent));
  for (const d of dirs) {
    // Random, not the pid: builder containers of one machine share its cgroup tree, and their
    // PID namespaces hand out the same pids, so two host-checks would make and remove one probe.
    const probe = join(d, `.kiln-host-check-${randomBytes(6).toString('hex')}`);
    try {
      await mkdir(probe, { recursive: true });
      await rmdir(probe);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      return {
        code: 'cgroup-not-writable',
        message: `cannot make job cgroups under ${d} (${e.code ?? e.message}): jobs would run without memory and pids limits`,
      };
    }
  }
  return null;
}

async function checkDisk(
  dir: string,
  minFree: number,
): Promise<{ fault: HostFault | null; disk: HostReport['disk'] }> {
  let path = dir;
  while (!existsSync(path) && dirname(path) !== path) path = dirname(path);
  const s = await statfs(path);
  const freeBytes = s.bavail * s.bsize;
  const freePercent = Math.round((s.bavail / Math.max(1, s.blocks)) * 1000) / 10;
  const disk = { path, freeBytes, freePercent };
  if (freePercent >= minFree) return { fault: null, disk };
  const gib = (freeBytes / 1024 ** 3).toFixed(1);
  return {
    fault: {
      code: 'disk-nearly-full',
      message: `${path}: ${freePercent}% free (${gib} GiB), under ${minFree}%`,
    },
    disk,
  };
}

/** Runs every check; a check that fails never stops the others. */
export async function checkHost(cfg: BuilderConfig, o: HostCheckOptions = {}): Promise<HostReport> {
  const ms = o.timeoutMs ?? 5000;
  const linux = cfg.platform.startsWith('linux');
  const [redis, store, bwrap, cgroup, disk] = await Promise.all([
    checkRedis(cfg, ms),
    checkStore(cfg, ms),
    linux ? checkBwrap(o.bwrapPath ?? '/usr/bin/bwrap', ms) : null,
    linux ? checkCgroups(o.cgroupRoot ?? '/sys/fs/cgroup', cfg.sandbox.cgroupParent) : null,
    checkDisk(cfg.workDir, o.minFreePercent ?? 10),
  ]);
  const faults = [redis, store, bwrap, cgroup, disk.fault].filter((f): f is HostFault => f !== null);
  return { version: VERSION, release: RELEASE, name: cfg.name, faults, disk: disk.disk };
}
