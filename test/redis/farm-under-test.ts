/**
 * What the two farm-port conformance suites (gateway-port.conformance.ts,
 * builder-port.conformance.ts) run against: both ports on one fresh, empty shared state, plus
 * small builders of the records they need.
 */
import type { BuilderFarm } from '../../protocol/builder-port.ts';
import type { FarmState } from '../../protocol/gateway-port.ts';
import type { BuilderInfo, NewJob, JobResultFields } from '../../protocol/farm.ts';
import { jobSpecSchema, withDefaultLimits, type JobSpec } from '../../protocol/job.ts';

export interface FarmUnderTest {
  gateway: FarmState;
  builder: BuilderFarm;
  /**
   * Messages delivered to `bid` and not yet acknowledged. Acknowledging is not observable through
   * the ports themselves, so each implementation says how to count them.
   */
  unacked(bid: string): Promise<number>;
  /** Removes everything this farm created. */
  cleanup(): Promise<void>;
}

/** Builds a fresh farm (its own key prefix, connections) per test. */
export type MakeFarm = () => Promise<FarmUnderTest>;

/** A builder's advertised info; `name` defaults to the id. */
export function builderInfo(id: string, over: Partial<BuilderInfo> = {}): BuilderInfo {
  return {
    id,
    name: id,
    platform: 'linux-x86_64',
    slots: 2,
    version: 'test',
    hostname: 'h',
    draining: false,
    warm: [],
    startedAt: new Date().toISOString(),
    ...over,
  };
}

/** A new job record placed on `bid`. */
export function newJob(id: string, bid: string, spec: Partial<JobSpec> = {}): NewJob {
  // The inline files as bytes: what a gateway holds once it has read either body.
  const { inline, ...rest } = spec;
  return {
    id,
    spec: withDefaultLimits({
      ...jobSpecSchema.parse({ argv: ['true'], ...rest }),
      ...(inline ? { inline } : {}),
    }),
    bid,
    sub: 'alice',
    tenant: 't1',
    createdAt: new Date().toISOString(),
  };
}

/** A successful result as a builder writes it. */
export function succeeded(over: Partial<JobResultFields> = {}): JobResultFields {
  return {
    state: 'succeeded',
    exitCode: 0,
    signal: null,
    error: null,
    outputs: null,
    missingOutputs: [],
    rejectedOutputs: [],
    logTruncated: false,
    finishedAt: new Date().toISOString(),
    ...over,
  };
}

/** A job-token key for a test builder. */
export const KEY = new Uint8Array(32).fill(7);

/** Long enough that no lease expires during a test. */
export const LONG_LEASE_MS = 600_000;
