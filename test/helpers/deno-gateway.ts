/**
 * A {@link GatewayLauncher} that runs the gateway under Deno: `deno run` of
 * gateway/adapters/deno/main.ts as a child process, configured by its environment only
 * (`KILN_GATEWAY_CONFIG`), with permissions narrowed to what that config needs (docs/edge.md).
 */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { GatewayConfig } from '../../gateway/config.ts';
import type { GatewayLauncher } from '../../wiring/dev-farm.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DENO = resolve(ROOT, 'node_modules/.bin/deno');
const MAIN = resolve(ROOT, 'gateway/adapters/deno/main.ts');

/** Options of {@link denoGatewayLauncher}. */
export interface DenoLauncherOptions {
  /** How long to wait for the `listening on` line. @default 60000 */
  startTimeoutMs?: number;
  /** How long `close()` waits after SIGTERM before SIGKILL. @default 5000 */
  killAfterMs?: number;
}

/** Every host named by a URL in the config (Redis, S3 endpoint, JWKS, …), plus the listen host. */
function netHosts(cfg: GatewayConfig): string[] | null {
  const hosts = new Set([cfg.listen.host]);
  if (cfg.storage.type === 's3' && !cfg.storage.endpoint) return null; // AWS: many hosts
  const walk = (v: unknown): void => {
    if (typeof v === 'string' && /^(https?|rediss?):\/\//.test(v)) hosts.add(new URL(v).hostname);
    else if (v && typeof v === 'object') Object.values(v).forEach(walk);
  };
  walk(cfg);
  // Deno writes IPv6 hosts in brackets; URL hostnames already have them, the listen host not.
  return [...hosts].map((h) => (h.includes(':') && !h.startsWith('[') ? `[${h}]` : h));
}

/** The PEM and password files a config names (TLS to clients, to Redis, to the store). */
function filesOf(cfg: GatewayConfig): string[] {
  const t = cfg.listen.tls;
  const r = cfg.redis;
  const files = [
    t?.cert,
    t?.key,
    t?.clientCa,
    r.tls?.ca,
    r.tls?.cert,
    r.tls?.key,
    r.passwordFile,
    cfg.storage.type === 's3' ? cfg.storage.ca : undefined,
  ];
  return files.filter((f): f is string => f !== undefined).map((f) => resolve(f));
}

/** The `deno run` permission flags for a config: the narrowest that serve it. */
export function denoPermissions(cfg: GatewayConfig): string[] {
  const hosts = netHosts(cfg);
  const read = [resolve(ROOT, 'redis/scripts'), ...filesOf(cfg)];
  const flags = [hosts ? `--allow-net=${hosts.join(',')}` : '--allow-net', '--allow-env'];
  if (cfg.storage.type === 'local') {
    const dir = resolve(cfg.storage.dir);
    read.push(dir);
    flags.push(`--allow-write=${dir}`);
  } else {
    flags.push('--allow-sys=osRelease'); // the AWS SDK puts the OS release in its user agent
  }
  flags.push(`--allow-read=${read.join(',')}`);
  return flags;
}

/** Builds a launcher; `close()` of what it starts sends SIGTERM, then SIGKILL. */
export function denoGatewayLauncher(opts: DenoLauncherOptions = {}): GatewayLauncher {
  return (cfg, log) =>
    new Promise((resolveStart, rejectStart) => {
      const args = [
        'run',
        '--no-prompt',
        `--config=${resolve(ROOT, 'deno.json')}`,
        ...denoPermissions(cfg),
        MAIN,
      ];
      const child = spawn(DENO, args, {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
        // A clean environment: a stray KILN_X__Y of the test runner must not reconfigure it.
        env: {
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          ...(process.env.DENO_DIR ? { DENO_DIR: process.env.DENO_DIR } : {}),
          NO_COLOR: '1',
          DENO_NO_UPDATE_CHECK: '1',
          KILN_GATEWAY_CONFIG: JSON.stringify(cfg),
        },
      });
      let url: string | null = null;
      let early = '';
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      const startTimeoutMs = opts.startTimeoutMs ?? 60_000;
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        rejectStart(new Error(`deno gateway did not listen within ${startTimeoutMs} ms:\n${early}`));
      }, startTimeoutMs);
      let partial = '';
      const onData = (d: Buffer): void => {
        partial += d.toString();
        const lines = partial.split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) {
          const m = url === null ? /^listening on (https?:\/\/\S+)$/.exec(line) : null;
          if (m) {
            url = m[1]!;
            clearTimeout(timer);
            resolveStart({ url, close });
          } else if (line.trim()) {
            if (url === null) early += line + '\n';
            log(line);
          }
        }
      };
      child.once('error', (err) => {
        clearTimeout(timer);
        rejectStart(new Error(`cannot run ${DENO} (npm ci installs it): ${err.message}`, { cause: err }));
      });
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        if (url === null)
          rejectStart(
            new Error(`deno gateway exited (${signal ?? code}) before listening:\n${early}${partial}`),
          );
      });
      const close = async (): Promise<void> => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const kill = setTimeout(() => child.kill('SIGKILL'), opts.killAfterMs ?? 5000);
        child.kill('SIGTERM');
        await exited;
        clearTimeout(kill);
      };
    });
}
