/**
 * The ONE loader of the Lua scripts in redis/scripts/: each is defined with ioredis
 * `defineCommand` (EVALSHA with a NOSCRIPT fallback), with the error table of codes.ts in front
 * of it as `E`. The file name carries the key count: `place-job-8.lua` → command `placeJob`, 8 keys.
 * A line `-- @include NAME` is replaced by redis/scripts/include/NAME.lua (Lua shared by several
 * scripts, such as the registry's free-slot bookkeeping), so no script repeats another's code.
 */
import { readFileSync, readdirSync } from 'node:fs';
import type { Redis } from 'ioredis';
import { luaErrorTable } from './codes.ts';

const DIR = new URL('./scripts/', import.meta.url);
const INCLUDE = /^-- @include ([a-z-]+)$/gm;

function withIncludes(file: string, lua: string): string {
  return lua.replace(INCLUDE, (_, name: string) => {
    try {
      return readFileSync(new URL(`include/${name}.lua`, DIR), 'utf8');
    } catch {
      throw new Error(`${file}: no include/${name}.lua`);
    }
  });
}

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
  drainBuilder: ScriptFn;
  casPreset: ScriptFn;
  admitJob: ScriptFn;
}

/** One script file as loaded: its command name, key count and source (preamble included). */
export interface ScriptSource {
  name: string;
  file: string;
  keys: number;
  lua: string;
}

let sources: ScriptSource[] | undefined;

/** Every script of redis/scripts/, read once per process. */
export function scriptSources(): ScriptSource[] {
  sources ??= readdirSync(DIR)
    .filter((f) => f.endsWith('.lua'))
    .map((file) => {
      const m = /^(.+)-(\d+)\.lua$/.exec(file);
      if (!m) throw new Error(`Lua script name must end in -<numkeys>.lua: ${file}`);
      const name = m[1]!.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
      const lua = luaErrorTable() + withIncludes(file, readFileSync(new URL(file, DIR), 'utf8'));
      return { name, file, keys: Number(m[2]), lua };
    });
  return sources;
}

const defined = new WeakMap<Redis, Scripts>();

/** Defines every script on a connection (once per connection) and returns them typed. */
export function defineScripts(redis: Redis): Scripts {
  const known = defined.get(redis);
  if (known) return known;
  const out: Record<string, ScriptFn> = {};
  for (const s of scriptSources()) {
    redis.defineCommand(s.name, { numberOfKeys: s.keys, lua: s.lua });
    const fn = (redis as unknown as Record<string, ScriptFn>)[s.name];
    if (!fn) throw new Error(`script ${s.name} was not defined`);
    out[s.name] = fn.bind(redis);
  }
  const scripts = out as unknown as Scripts;
  defined.set(redis, scripts);
  return scripts;
}
