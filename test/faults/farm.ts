/**
 * A farm of real processes for fault injection: redis-server (with an AOF, restartable on its
 * port), the gateway as a `kiln gateway` child process (killable with SIGKILL, restartable on its
 * port, optionally stopped at a fault point), `kiln builder` children, and the blob store: a local
 * directory, or s3rver as a child process (s3rver-child.ts: killable, restartable on its port and
 * data directory, optionally killing itself mid-transfer). Everything listens on 127.0.0.1 and
 * lives under one temp directory removed by stop().
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'smol-toml';
import { createLoopDisks } from '../../builders/linux/loop-disk.ts';
import { Redis } from 'ioredis';
import { startLocalRedis, type LocalRedis } from '../../wiring/redis-server.ts';
import { freePort } from '../helpers/ports.ts';
import { redisKeys, type Keys } from '../../protocol/keys.ts';

const KILN = fileURLToPath(new URL('../../client/bin/kiln.js', import.meta.url));

/** A child process and everything it wrote to stderr. */
export interface Proc {
  child: ChildProcess;
  log: string[];
  /** Resolves when a stderr line matches. */
  waitFor(re: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  exited: Promise<{ code: number | null; signal: string | null }>;
}

function watch(child: ChildProcess): Proc {
  const log: string[] = [];
  const waiters: { re: RegExp; resolve(m: RegExpExecArray): void }[] = [];
  let partial = '';
  child.stderr?.on('data', (d: Buffer) => {
    partial += d.toString();
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      log.push(line);
      for (const w of [...waiters]) {
        const m = w.re.exec(line);
        if (m) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(m);
        }
      }
    }
  });
  const exited = new Promise<{ code: number | null; signal: string | null }>((r) =>
    child.once('exit', (code, signal) => r({ code, signal })),
  );
  return {
    child,
    log,
    exited,
    waitFor(re, timeoutMs = 60_000) {
      for (const line of log) {
        const m = re.exec(line);
        if (m) return Promise.resolve(m);
      }
      return new Promise((resolve, reject) => {
        const t = setTimeout(
          () =>
            reject(new Error(`no line matching ${re} within ${timeoutMs} ms:\n${log.slice(-20).join('\n')}`)),
          timeoutMs,
        );
        waiters.push({
          re,
          resolve: (m) => {
            clearTimeout(t);
            resolve(m);
          },
        });
      });
    },
  };
}

export interface FaultFarmOptions {
  builders?: number;
  slots?: number;
  leaseMs?: number;
  drainMs?: number;
  /** Gateway limits. */
  limits?: Record<string, unknown>;
  /** A builder's work directory root (a small tmpfs for the full-disk scenario). */
  workRoot?: string;
  /** The blob store: a local directory, or s3rver as a killable process. @default "local" */
  store?: 'local' | 's3';
}

/** A store fault (s3rver-child.ts): SIGKILL itself after `afterBytes` of the first matching transfer. */
export interface StoreFault {
  method: 'PUT' | 'GET';
  /** A regular expression matched against the request path (`/<bucket>/<key>`). */
  path: string;
  afterBytes: number;
}

/** The s3rver process of a farm with `store: "s3"`. */
export interface StoreProc {
  proc: Proc;
  /** Its data directory (kept across restarts). */
  dir: string;
  /** SIGKILLs it (if it still runs) and waits until it is gone. */
  kill(): Promise<void>;
  /** Starts it again on its port and data directory, optionally armed with a fault. */
  restart(fault?: StoreFault): Promise<void>;
}

export interface FaultFarm {
  url: string;
  token: string;
  dir: string;
  redis: LocalRedis;
  keys: Keys;
  /** A command connection for observing Redis (reconnects by itself). */
  conn: Redis;
  gateway: Proc;
  builders: Proc[];
  /** Set with `store: "s3"`. */
  store: StoreProc | null;
  /** Starts (or restarts) the gateway on its port; `faultPoint` makes it hang there. */
  startGateway(faultPoint?: string): Promise<Proc>;
  addBuilder(extra?: Record<string, unknown>): Promise<Proc>;
  /** Kills redis-server with SIGKILL. */
  killRedis(): Promise<void>;
  /** Starts redis-server again on its port, from its AOF. */
  restartRedis(): Promise<void>;
  /** The builder id a builder process registered as last. */
  builderId(p: Proc): string;
  stop(): Promise<void>;
}

const sigkill = async (p: Proc): Promise<void> => {
  if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  await p.exited;
};

const STORE_BUCKET = 'kiln-faults';
const S3RVER_CHILD = fileURLToPath(new URL('./s3rver-child.ts', import.meta.url));

/** s3rver as a child process on a free port, with its data in `dir`. */
async function startStore(dir: string, procs: Proc[]): Promise<StoreProc & { endpoint: string }> {
  await mkdir(dir, { recursive: true });
  const port = await freePort();
  const spawnStore = async (fault?: StoreFault): Promise<Proc> => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', S3RVER_CHILD, String(port), dir, STORE_BUCKET],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
        env: {
          ...process.env,
          NODE_OPTIONS: '',
          ...(fault ? { KILN_STORE_FAULT: JSON.stringify(fault) } : {}),
        },
      },
    );
    const p = watch(child);
    procs.push(p);
    await p.waitFor(/^ready /, 30_000);
    return p;
  };
  const s = {
    endpoint: `http://127.0.0.1:${port}`,
    dir,
    proc: await spawnStore(),
    async kill() {
      await sigkill(s.proc);
    },
    async restart(fault?: StoreFault) {
      await sigkill(s.proc);
      s.proc = await spawnStore(fault);
    },
  };
  return s;
}

export async function startFaultFarm(o: FaultFarmOptions = {}): Promise<FaultFarm> {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-faults-'));
  await chmod(dir, 0o711);
  await mkdir(join(dir, 'redis'));
  const token = randomBytes(18).toString('base64url');
  const prefix = 'kf';
  let redis = await startLocalRedis({ dir: join(dir, 'redis'), appendonly: true });
  const port = await freePort();
  const procs: Proc[] = [];
  const store = o.store === 's3' ? await startStore(join(dir, 's3'), procs) : null;
  const storage = store
    ? {
        type: 's3',
        bucket: STORE_BUCKET,
        endpoint: store.endpoint,
        region: 'us-east-1',
        accessKeyId: 'S3RVER',
        secretAccessKey: 'S3RVER',
      }
    : { type: 'local', dir: join(dir, 'store') };
  const gwToml = join(dir, 'gateway.toml');
  await writeFile(
    gwToml,
    stringify({
      listen: { host: '127.0.0.1', port },
      redis: { url: redis.url, prefix },
      storage,
      auth: { methods: [{ type: 'token', tokens: [{ token, sub: 'ops', tenant: 'ops', admin: true }] }] },
      limits: { sweepMs: 250, placementWaitMs: 1000, ...o.limits },
    }),
  );
  const conn = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  conn.on('error', () => undefined);
  const env = { ...process.env, NODE_OPTIONS: '', KILN_PARENT_PID: String(process.pid) };
  let n = 0;

  const farm: FaultFarm = {
    url: `http://127.0.0.1:${port}`,
    token,
    dir,
    redis,
    keys: redisKeys(prefix),
    conn,
    gateway: undefined as unknown as Proc,
    builders: [],
    store,
    async startGateway(faultPoint) {
      const child = spawn(process.execPath, [KILN, 'gateway', '--config', gwToml], {
        stdio: ['ignore', 'ignore', 'pipe'],
        env: { ...env, ...(faultPoint ? { KILN_FAULT_POINT: faultPoint } : {}) },
      });
      const p = watch(child);
      procs.push(p);
      farm.gateway = p;
      await p.waitFor(/listening on/);
      return p;
    },
    async addBuilder(extra = {}) {
      const i = n++;
      const file = join(dir, `builder-${i}.toml`);
      await writeFile(
        file,
        stringify({
          name: `fb${i}`,
          slots: o.slots ?? 2,
          leaseMs: o.leaseMs ?? 2000,
          drainMs: o.drainMs ?? 20_000,
          workDir: join(o.workRoot ?? dir, `work-${i}`),
          redis: { url: redis.url, prefix },
          storage,
          ...extra,
        }),
        { mode: 0o600 },
      );
      const child = spawn(process.execPath, [KILN, 'builder', '--config', file], {
        stdio: ['ignore', 'ignore', 'pipe'],
        env,
      });
      const p = watch(child);
      procs.push(p);
      farm.builders.push(p);
      await p.waitFor(/builder (\S+) registered/);
      return p;
    },
    builderId(p) {
      const ids = p.log.map((l) => /builder (\S+) registered/.exec(l)?.[1]).filter(Boolean);
      return ids.at(-1) ?? '';
    },
    async killRedis() {
      const gone = new Promise((r) => redis.child.once('exit', r));
      redis.child.kill('SIGKILL');
      await gone;
    },
    async restartRedis() {
      redis = await startLocalRedis({ port: redis.port, dir: join(dir, 'redis'), appendonly: true });
      farm.redis = redis;
    },
    async stop() {
      await Promise.all(procs.map(sigkill));
      conn.disconnect();
      await redis.stop().catch(() => undefined);
      if (redis.child.exitCode === null) redis.child.kill('SIGKILL');
      await createLoopDisks({ log: () => undefined }).sweep(dir); // job disks of builders killed mid-job
      await rm(dir, { recursive: true, force: true });
    },
  };
  try {
    await farm.startGateway();
    for (let i = 0; i < (o.builders ?? 2); i++) await farm.addBuilder();
  } catch (err) {
    await farm.stop();
    throw err;
  }
  return farm;
}

/** One row of the fault table. */
export interface FaultRow {
  scenario: string;
  submitted: number;
  completedOnce: number;
  failedClearly: number;
  lost: number;
  duplicated: number;
}
