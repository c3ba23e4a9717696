/**
 * A whole farm on one machine: a private redis-server, a blob store (a local directory, or S3),
 * the gateway on Node, and N builder agents as child processes (`kiln builder`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'smol-toml';
import type { GatewayConfig } from '../gateway/config.ts';
import type { RedisConfig, StorageConfig } from '../protocol/farm-config.ts';
import { gatewayConfigSchema } from '../gateway/config.ts';
import { serveGatewayNode } from '../gateway/adapters/node/serve.ts';
import { redisSection, startLocalRedis, type LocalRedis } from './redis-server.ts';
import { startLocalCluster } from './redis-cluster.ts';
import { createLoopDisks } from '../builders/linux/loop-disk.ts';

const KILN_BIN = fileURLToPath(new URL('../client/bin/kiln.js', import.meta.url));

export interface DevFarmOptions {
  /** Builder agents to start. @default 1 */
  builders?: number;
  /** Slots per builder. @default 2 */
  slots?: number;
  /** Gateway port; 0 picks a free one. @default 8420 */
  port?: number;
  /** S3 instead of a local directory. */
  s3?: Extract<StorageConfig, { type: 's3' }>;
  /** Lease length of builders (short in tests that kill builders). @default 10000 */
  leaseMs?: number;
  /** How long a stopped builder lets its jobs finish before handing them back. @default 10000 */
  drainMs?: number;
  /** Builder work directories (one per builder, `work-N` under it). @default the farm's data dir */
  workRoot?: string;
  /** Where builder output goes. @default a no-op */
  log?: (m: string) => void;
  /** Extra gateway limits (tests). */
  limits?: Partial<GatewayConfig['limits']>;
  /** Extra client auth methods tried before the dev token (tests: a JWKS-backed jwt method). */
  authMethods?: unknown[];
  /** The limits policy (tests). */
  policy?: unknown;
  /** Extra builder.toml keys for every builder (tests: small cache limits). */
  builderExtra?: Record<string, unknown>;
  /** Action-cache scopes (tests). */
  cache?: GatewayConfig['cache'];
  /** Serves the gateway; the default runs it in this Node process. */
  serveGateway?: GatewayLauncher;
  /** A local Redis Cluster of this many masters instead of one redis-server. @default 0 (one server) */
  redisCluster?: number;
  /**
   * A Redis the caller started (and stops), with what the gateway's and each builder's
   * `[redis]` add to its URL: TLS files, ACL user and password (the transport-trust tests).
   * @default a private plain redis-server, no user
   */
  redis?: {
    server: LocalRedis;
    url: string;
    gateway?: Partial<RedisConfig>;
    builder?: (name: string) => Partial<RedisConfig>;
  };
  /** The gateway's `listen.tls` (HTTPS, client certificates). @default plain HTTP */
  listenTls?: Record<string, unknown>;
}

/** Starts a gateway for a validated config; the Deno tests pass one that runs it under Deno. */
export type GatewayLauncher = (
  cfg: GatewayConfig,
  log: (m: string) => void,
) => Promise<{ url: string; close(): Promise<void> }>;

export interface DevFarm {
  url: string;
  token: string;
  redis: LocalRedis;
  prefix: string;
  storage: StorageConfig;
  dataDir: string;
  builders: ChildProcess[];
  /** The builder id each child registered as. */
  builderIds: Map<ChildProcess, string>;
  /** Stops only the gateway (tests of clients that must survive it). */
  stopGateway(): Promise<void>;
  /** Starts one more builder; resolves when it has registered. */
  addBuilder(): Promise<ChildProcess>;
  stop(): Promise<void>;
}

export async function startDevFarm(o: DevFarmOptions = {}): Promise<DevFarm> {
  const log = o.log ?? (() => undefined);
  const dataDir = await mkdtemp(join(tmpdir(), 'kiln-dev-'));
  await chmod(dataDir, 0o711); // the sandbox uid must traverse it to its job directory, not list it
  const token = randomBytes(24).toString('base64url');
  const prefix = 'kiln';
  let redis: LocalRedis | null = null;
  let gw: { url: string; close(): Promise<void> } | null = null;
  const builders: ChildProcess[] = [];
  const builderIds = new Map<ChildProcess, string>();
  const storage: StorageConfig = o.s3 ?? { type: 'local', dir: join(dataDir, 'store') };

  const stop = async (): Promise<void> => {
    await Promise.all(
      builders.map(
        (b) =>
          new Promise<void>((r) => {
            if (b.exitCode !== null || b.signalCode !== null) return r();
            b.once('exit', () => r());
            b.kill('SIGTERM');
            setTimeout(() => b.kill('SIGKILL'), (o.drainMs ?? 10_000) + 5000).unref();
          }),
      ),
    );
    await gw?.close();
    if (!o.redis) await redis?.stop();
    // A builder killed mid-job leaves its job's disk mounted (its next start would sweep it).
    await createLoopDisks({ log }).sweep(dataDir);
    await rm(dataDir, { recursive: true, force: true });
  };

  try {
    redis =
      o.redis?.server ?? (o.redisCluster ? await startLocalCluster(o.redisCluster) : await startLocalRedis());
    const section = (extra: Partial<RedisConfig> | undefined): Record<string, unknown> => ({
      ...redisSection(redis!, prefix),
      ...(o.redis ? { url: o.redis.url } : {}),
      ...extra,
    });
    const cfg = gatewayConfigSchema.parse({
      listen: { host: '127.0.0.1', port: o.port ?? 8420, ...(o.listenTls ? { tls: o.listenTls } : {}) },
      redis: section(o.redis?.gateway),
      storage,
      auth: {
        methods: [
          ...(o.authMethods ?? []),
          { type: 'token', tokens: [{ token, sub: 'dev', tenant: 'dev', admin: true }] },
        ],
      },
      limits: o.limits ?? {},
      cache: o.cache ?? { shared: [] },
      ...(o.policy ? { policy: o.policy } : {}),
    });
    gw = await (o.serveGateway ?? serveGatewayNode)(cfg, (m) => log(`gateway: ${m}`));
    // Each builder has its own work directory (and so its own toolchain and blob caches), as on separate hosts.
    let builderCount = 0;
    const builderConfig = async (): Promise<string> => {
      const n = builderCount++;
      const file = join(dataDir, `builder-${n}.toml`);
      const name = `dev${n}`;
      const cfg = {
        name,
        slots: o.slots ?? 2,
        leaseMs: o.leaseMs ?? 10_000,
        drainMs: o.drainMs ?? 10_000,
        workDir: join(o.workRoot ?? dataDir, `work-${n}`),
        redis: section(o.redis?.builder?.(name)),
        storage,
        ...o.builderExtra,
      };
      await writeFile(file, stringify(cfg), { mode: 0o600 });
      return file;
    };
    const addBuilder = async (): Promise<ChildProcess> => {
      const builderToml = await builderConfig();
      return new Promise((resolve, reject) => {
        const child = spawn(process.execPath, [KILN_BIN, 'builder', '--config', builderToml], {
          stdio: ['ignore', 'ignore', 'pipe'],
          env: {
            ...process.env,
            NODE_OPTIONS: process.env.KILN_BUILDER_NODE_OPTIONS ?? '',
            KILN_PARENT_PID: String(process.pid),
          },
        });
        builders.push(child);
        let buf = '';
        child.stderr?.on('data', (d: Buffer) => {
          const text = d.toString();
          for (const line of text.split('\n')) if (line.trim()) log(line);
          if (!builderIds.has(child)) {
            buf += text;
            const m = /builder (\S+) registered/.exec(buf);
            if (m) {
              builderIds.set(child, m[1]!);
              resolve(child);
            }
          }
        });
        child.once('exit', (code) =>
          reject(new Error(`builder exited with ${code} before registering: ${buf.slice(-2000)}`)),
        );
      });
    };
    await Promise.all(Array.from({ length: o.builders ?? 1 }, addBuilder));
    const stopGateway = async (): Promise<void> => {
      const g = gw;
      gw = null;
      await g?.close();
    };
    return {
      url: gw.url,
      token,
      redis,
      prefix,
      storage,
      dataDir,
      builders,
      builderIds,
      addBuilder,
      stopGateway,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
