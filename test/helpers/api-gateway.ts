/**
 * A gateway for API tests that need no builder: a real redis-server, a local-dir store in a temp
 * folder, a JWKS server, and the app driven in-process with `app.request(...)` (no socket), or,
 * with a launcher, the same config served by another runtime (the Deno adapter) over HTTP.
 * Builders are registered through the builder port only, so jobs are placed but never run.
 * With `KILN_TEST_REDIS=cluster` the Redis is a 3-master cluster (test/helpers/redis-mode.ts).
 */
import { after, before } from 'node:test';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { gatewayConfigSchema, type GatewayConfig } from '../../gateway/config.ts';
import { wireGateway } from '../../wiring/gateway.ts';
import type { GatewayLauncher } from '../../wiring/dev-farm.ts';
import { redisSection, type LocalRedis } from '../../wiring/redis-server.ts';
import type { RedisConn } from '../../redis/connect.ts';
import { openConn, startTestRedis } from './redis-mode.ts';
import { createRedisBuilderFarm } from '../../redis/builder-farm.ts';
import type { BuilderInfo } from '../../protocol/farm.ts';
import { startJwksServer, type JwksServer } from './jwks.ts';

/** A tenant's static token, and another tenant's. */
export const TOKENS = {
  dev: 'dev-tenant-token-' + randomBytes(8).toString('hex'),
  other: 'other-tenant-token-' + randomBytes(8).toString('hex'),
} as const;

/** An answer, its body parsed as JSON when it is JSON. */
export interface Answer {
  status: number;
  body: unknown;
  /** The body as text. */
  text: string;
  headers: Headers;
}

/** A request; `json` is sent as the JSON body, `token` replaces the dev tenant's. */
export type Ask = RequestInit & { json?: unknown; token?: string | null };

export interface ApiGateway {
  /** Sends one request to the gateway. */
  api(path: string, init?: Ask): Promise<Answer>;
  jwks(): JwksServer;
  /** Registers a builder record (no agent: jobs placed on it stay queued). */
  addBuilder(over?: Partial<BuilderInfo>): Promise<string>;
  /** A connection to the farm's Redis and its key prefix. */
  redis(): RedisConn;
  prefix: string;
}

export interface ApiGatewayOptions {
  /** Limits on top of the defaults. */
  limits?: Partial<GatewayConfig['limits']>;
  /** The limits policy (gateway.toml `[policy]`). */
  policy?: unknown;
  /** Serve with this launcher (over HTTP) instead of in-process `app.request`. */
  launcher?: GatewayLauncher;
}

/** Registers `before`/`after` hooks that start and stop everything in the calling test file. */
export function useApiGateway(opts: ApiGatewayOptions = {}): ApiGateway {
  const prefix = `api${randomBytes(4).toString('hex')}`;
  let dir = '';
  let server: LocalRedis | undefined;
  let jwks: JwksServer | undefined;
  let conn: RedisConn | undefined;
  let send: ((path: string, init: RequestInit) => Promise<Response>) | undefined;
  let close: (() => Promise<void>) | undefined;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kiln-api-'));
    server = await startTestRedis();
    jwks = await startJwksServer();
    const cfg = gatewayConfigSchema.parse({
      listen: { port: 0 },
      redis: redisSection(server, prefix),
      storage: { type: 'local', dir: join(dir, 'store') },
      auth: {
        methods: [
          {
            type: 'jwt',
            jwksUrl: jwks.url,
            issuer: jwks.issuer,
            audience: jwks.audience,
            tenantClaim: 'tenant',
            cooldownSec: 0,
          },
          {
            type: 'token',
            tokens: [
              { token: TOKENS.dev, sub: 'alice', tenant: 'dev' },
              { token: TOKENS.other, sub: 'eve', tenant: 'other' },
            ],
          },
        ],
      },
      limits: { placementWaitMs: 300, sweepMs: 60_000, ...opts.limits },
      ...(opts.policy ? { policy: opts.policy } : {}),
    });
    if (opts.launcher) {
      const served = await opts.launcher(cfg, () => undefined);
      send = (path, init) => fetch(served.url + path, init);
      close = () => served.close();
    } else {
      const gw = await wireGateway(cfg, () => undefined);
      send = async (path, init) => gw.app.request(path, init);
      close = () => gw.close();
    }
    conn = openConn(server);
  });
  after(async () => {
    await close?.();
    conn?.disconnect();
    await jwks?.stop();
    await server?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  let builders = 0;
  return {
    prefix,
    async api(path, init = {}) {
      const { json, token, ...rest } = init;
      const headers = new Headers(rest.headers);
      const bearer = token === undefined ? TOKENS.dev : token;
      if (bearer) headers.set('Authorization', `Bearer ${bearer}`);
      let body = rest.body;
      if (json !== undefined) {
        headers.set('Content-Type', 'application/json');
        body = JSON.stringify(json);
      }
      const res = await send!(path, { ...rest, headers, body });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = text ? JSON.parse(text) : null;
      } catch {
        /* not JSON */
      }
      return { status: res.status, body: parsed, text, headers: res.headers };
    },
    jwks: () => jwks!,
    redis: () => conn!,
    async addBuilder(over = {}) {
      const id = over.id ?? `b${++builders}-${randomBytes(4).toString('hex')}`;
      const info: BuilderInfo = {
        id,
        name: id,
        platform: 'linux-x86_64',
        slots: 4,
        version: 'test',
        hostname: 'h',
        draining: false,
        warm: [],
        startedAt: new Date().toISOString(),
        ...over,
      };
      const farm = createRedisBuilderFarm({ redis: conn!, pull: conn!, sub: conn! }, prefix);
      await farm.register(info, new Uint8Array(randomBytes(32)), 600_000);
      return id;
    },
  };
}
