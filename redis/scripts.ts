/**
 * Loads every Lua script in redis/scripts/ with ioredis `defineCommand` (EVALSHA with a NOSCRIPT
 * fallback). The file name carries the key count: `place-job-5.lua` → command `placeJob`, 5 keys.
 */
import { readFileSync, readdirSync } from 'node:fs';
import type { Redis } from 'ioredis';

const DIR = new URL('./scripts/', import.meta.url);

type Reply = string | number | null | Reply[];
type ScriptFn = (...args: (string | number)[]) => Promise<Reply>;

/** The scripts, by camel-cased name; arguments are KEYS then ARGV, flat. */
export interface Scripts {
  placeJob: ScriptFn;
  releaseSlot: ScriptFn;
  registerBuilder: ScriptFn;
  removeBuilders: ScriptFn;
  startJob: ScriptFn;
  completeJob: ScriptFn;
  requeueJob: ScriptFn;
  cancelJob: ScriptFn;
}

let sources: { name: string; keys: number; lua: string }[] | undefined;

function loadSources(): { name: string; keys: number; lua: string }[] {
  sources ??= readdirSync(DIR)
    .filter((f) => f.endsWith('.lua'))
    .map((f) => {
      const m = /^(.+)-(\d+)\.lua$/.exec(f);
      if (!m) throw new Error(`Lua script name must end in -<numkeys>.lua: ${f}`);
      const name = m[1]!.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
      return { name, keys: Number(m[2]), lua: readFileSync(new URL(f, DIR), 'utf8') };
    });
  return sources;
}

/** Defines every script on a connection and returns them typed. */
export function defineScripts(redis: Redis): Scripts {
  const out: Record<string, ScriptFn> = {};
  for (const s of loadSources()) {
    redis.defineCommand(s.name, { numberOfKeys: s.keys, lua: s.lua });
    const fn = (redis as unknown as Record<string, ScriptFn>)[s.name];
    if (!fn) throw new Error(`script ${s.name} was not defined`);
    out[s.name] = fn.bind(redis);
  }
  return out as unknown as Scripts;
}
