/** What every route gets: the ports, the limits, a logger. Built once by createApp. */
import type { BlobStore } from '../storage/port.ts';
import type { Metrics } from './metrics.ts';
import type { Principal } from './auth/principal.ts';
import type { GatewayLimits } from './config.ts';
import type { LimitsPolicy } from './limits-policy.ts';
import type { CacheConfig } from './action-cache.ts';
import type { FarmState } from '../protocol/gateway-port.ts';
import type { PresetStore } from '../protocol/preset-store.ts';

export interface GatewayDeps {
  farm: FarmState;
  store: BlobStore;
  authenticate(req: Request): Promise<Principal>;
  limits: GatewayLimits;
  /** Limits granted per tenant and quotas (gateway.toml `[policy]`). @default the built-in maxima */
  policy?: LimitsPolicy;
  log(msg: string): void;
  /** Version string reported by /api/v1/status. */
  version: string;
  /** Action-cache scopes. @default no shared scopes */
  cache?: CacheConfig;
  /** The gateway's metrics (shared with the sweeper). @default a new registry */
  metrics?: Metrics;
  /** Test hook: called at named points (fault-injection tests stop the process there). */
  faultPoint?(name: string): Promise<void>;
  /** Toolchain presets and owners (routes/toolchains.ts); without it the preset routes answer 503. */
  presets?: PresetStore;
}

/** Hono environment of the gateway app. */
export interface GatewayEnv {
  /** Routes authenticate per request (deps.authenticate); nothing is kept on the context. */
  Variables: Record<string, never>;
}
