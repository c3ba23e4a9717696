/**
 * The limits policy (gateway.toml `[policy]`): farm-wide maxima, defaults, and per-tenant
 * defaults and maxima for every resource limit of a job, plus jobs in flight and job creations
 * per second per tenant. The gateway grants a job its limits here, refusing with 400 a request
 * above a maximum (naming it); the granted limits are what the job record carries and what the
 * builder enforces.
 */
import { z } from 'zod';
import { KilnError } from '../protocol/errors.ts';
import {
  LIMIT_DEFAULTS,
  LIMIT_FIELDS,
  limitsRequestSchema,
  type LimitName,
  type Limits,
  type LimitsRequest,
} from '../protocol/job.ts';

/** Per-tenant defaults and maxima take the same shape as a client's request: any subset of the limits. */
const limitValues = limitsRequestSchema;
const tenantQuota = {
  /** Jobs of the tenant queued or running at once; more: 429. */
  jobsInFlight: z.number().int().min(1).max(1_000_000).optional(),
  /** Job creations per second (a token bucket with a burst of twice this); more: 429 + Retry-After. */
  createPerSec: z.number().min(0.01).max(100_000).optional(),
};
const maxima = limitValues.extend(tenantQuota).strict();

/** What an admin sets for every tenant, or for one. */
const scopeSchema = z
  .object({
    /** Limits a job gets when it does not ask; each is clipped to the maximum. */
    defaults: limitValues.default({}),
    /** The most a job may ask, and the tenant's quotas. */
    max: maxima.default({}),
  })
  .strict();

export const policySchema = z
  .object({
    /** Farm-wide defaults and maxima (a tenant's own never go above these maxima). */
    defaults: limitValues.default({}),
    max: maxima.default({}),
    /** Per-tenant defaults and maxima, by tenant name. */
    tenants: z.record(z.string().min(1).max(200), scopeSchema).default({}),
    /** Sandbox profiles builders have; a job naming another is refused at the door. @default ["default"] */
    profiles: z
      .array(z.string().regex(/^[a-z0-9][a-z0-9-]{0,63}$/))
      .min(1)
      .default(['default']),
  })
  .strict();
export type PolicyConfig = z.infer<typeof policySchema>;
type Maxima = z.infer<typeof maxima>;

/** Farm-wide maxima when gateway.toml names none: generous for builds, far from "unbounded". */
export const BUILTIN_MAX: Required<Maxima> = {
  timeoutSec: 4 * 3600,
  graceSec: 120,
  memoryMiB: 32_768,
  pids: 8192,
  cpus: 64,
  logBytes: 1 << 30,
  outputBytes: 16 * 1024 ** 3,
  diskMiB: 65_536,
  jobsInFlight: 1024,
  createPerSec: 200,
};

const LIMIT_NAMES = Object.keys(LIMIT_FIELDS) as LimitName[];

/** A tenant's effective maxima and defaults. */
export interface TenantPolicy {
  max: Required<Maxima>;
  defaults: Partial<Limits>;
  /** True when an admin set a CPU maximum: a job that names no CPUs then gets that many, not an unlimited share. */
  cpusCapped: boolean;
}

export interface LimitsPolicy {
  /** The policy of one tenant. */
  tenant(tenant: string): TenantPolicy;
  /**
   * The limits granted to a job of `tenant` that asked for `asked`.
   * @throws KilnError ERR_VALIDATION naming the limit and its maximum when one is above it.
   */
  grant(tenant: string, asked: LimitsRequest): Limits;
  /** Refuses a profile no builder has. */
  checkProfile(name: string): void;
}

export function createLimitsPolicy(cfg: PolicyConfig = policySchema.parse({})): LimitsPolicy {
  const farmMax: Required<Maxima> = { ...BUILTIN_MAX, ...stripUndefined(cfg.max) };
  const cache = new Map<string, TenantPolicy>();
  const tenant = (name: string): TenantPolicy => {
    let p = cache.get(name);
    if (!p) {
      const own = cfg.tenants[name];
      const max = { ...farmMax };
      for (const [k, v] of Object.entries(stripUndefined(own?.max ?? {})) as [keyof Maxima, number][])
        max[k] = Math.min(v, farmMax[k]);
      p = {
        max,
        defaults: { ...stripUndefined(cfg.defaults), ...stripUndefined(own?.defaults ?? {}) },
        cpusCapped: cfg.max.cpus !== undefined || own?.max.cpus !== undefined,
      };
      cache.set(name, p);
    }
    return p;
  };
  return {
    tenant,
    grant(name, asked) {
      const p = tenant(name);
      const over: string[] = [];
      const out: Record<string, number> = {};
      for (const k of LIMIT_NAMES) {
        const max = p.max[k];
        const want = asked[k];
        if (want !== undefined && want > max) over.push(`limits.${k} ${want} is above the maximum ${max}`);
        const fallback = k === 'cpus' ? (p.cpusCapped ? max : undefined) : LIMIT_DEFAULTS[k];
        const base = want ?? p.defaults[k] ?? fallback;
        if (base !== undefined) out[k] = Math.min(base, max);
      }
      if (over.length > 0) {
        throw new KilnError('ERR_VALIDATION', `${over.join('; ')} (tenant ${name})`, {
          detail: { problems: over, maxima: pick(p.max, LIMIT_NAMES) },
        });
      }
      return out as unknown as Limits;
    },
    checkProfile(profile) {
      if (!cfg.profiles.includes(profile))
        throw new KilnError(
          'ERR_VALIDATION',
          `unknown sandbox profile "${profile}" (this farm has: ${cfg.profiles.join(', ')})`,
        );
    },
  };
}

function stripUndefined<T extends object>(o: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as never;
}

function pick<T extends object, K extends keyof T>(o: T, keys: readonly K[]): Pick<T, K> {
  return Object.fromEntries(keys.map((k) => [k, o[k]])) as Pick<T, K>;
}
