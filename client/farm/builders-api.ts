/** The builder admin routes of the gateway (gateway/routes/builders.ts), as the CLI uses them. */
import { callJson, type Api } from '../http.ts';

/** What the gateway answers for a builder name. */
export interface BuilderState {
  name: string;
  draining: boolean;
  drain: { by: string; at: string } | null;
  builders: { id: string; load: number; slots: number; version: string; live: boolean }[];
}

const path = (name: string): string => `/api/v1/builders/${encodeURIComponent(name)}`;

export async function getBuilder(api: Api, name: string): Promise<BuilderState> {
  return callJson<BuilderState>(api, path(name));
}

/** Sets `name` draining (`true`) or undrains it (`false`). */
export async function setDraining(api: Api, name: string, draining: boolean): Promise<BuilderState> {
  return callJson<BuilderState>(api, `${path(name)}/${draining ? 'drain' : 'undrain'}`, { method: 'POST' });
}

/** Jobs still placed on the live builders of that name. */
export function jobsHeld(s: BuilderState): number {
  return s.builders.filter((b) => b.live).reduce((n, b) => n + b.load, 0);
}

/**
 * Polls until the builders of `name` hold no job (running or queued to them), or `timeoutMs`
 * passes; answers the last state. Each poll is one GET, `everyMs` apart.
 */
export async function waitIdle(
  api: Api,
  name: string,
  timeoutMs: number,
  everyMs = 500,
  signal?: AbortSignal,
): Promise<BuilderState> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const s = await getBuilder(api, name);
    if (jobsHeld(s) === 0 || Date.now() >= end || signal?.aborted) return s;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
