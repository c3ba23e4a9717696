/**
 * The ONE loader of the Lua scripts in redis/scripts/: each is called with EVALSHA, and on
 * NOSCRIPT loaded with SCRIPT LOAD (on every master of a cluster) and called again, with the
 * error table of codes.ts in front of it as `E` and the status fields a `done` event carries as
 * `DONE_FIELDS` (redis/job-hash.ts), both on the script's first line. Never EVAL: a Redis user can then be allowed
 * exactly the scripts of its role (`+evalsha|<sha1>`, redis/acl.ts) and no Lua of its own. The file name carries the key count: `place-job-8.lua` → command `placeJob`, 8 keys.
 * A line `-- @include NAME` is replaced by redis/scripts/include/NAME.lua (Lua shared by several
 * scripts, such as the registry's free-slot bookkeeping; an include may include others), so no
 * script repeats another's code.
 */
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import type { RedisConn } from './connect.ts';
import { KilnError } from '../protocol/errors.ts';
import { luaErrorTable } from './codes.ts';
import { luaDoneFields } from './job-hash.ts';

const DIR = new URL('./scripts/', import.meta.url);
const INCLUDE = /^-- @include ([a-z-]+)$/gm;

function withIncludes(file: string, lua: string, depth = 0): string {
  if (depth > 4) throw new Error(`${file}: includes nested too deep`);
  return lua.replace(INCLUDE, (_, name: string) => {
    let text: string;
    try {
      text = readFileSync(new URL(`include/${name}.lua`, DIR), 'utf8');
    } catch {
      throw new Error(`${file}: no include/${name}.lua`);
    }
    return withIncludes(`include/${name}.lua`, text, depth + 1);
  });
}

type Reply = string | number | null | Reply[];
type ScriptFn = (...args: (string | number)[]) => Promise<Reply>;
/** A reply whose bulk strings stay bytes (EVALSHA through ioredis' Buffer variant). */
export type BufferReply = Buffer | number | null | BufferReply[];
type BufferScriptFn = (...args: (string | number)[]) => Promise<BufferReply>;
type EvalShaBuffer = (sha: string, keys: number, ...args: (string | number)[]) => Promise<BufferReply>;

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
  admitPlaceJob: ScriptFn;
  /** start-job-1.lua answering the job hash as bytes: its `inlineData` is binary. */
  startJobBuffer: BufferScriptFn;
}

/** One script file as loaded: its command name, key count, source (preamble included) and SHA1. */
export interface ScriptSource {
  name: string;
  file: string;
  keys: number;
  lua: string;
  sha: string;
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
      const lua =
        luaErrorTable() + luaDoneFields() + withIncludes(file, readFileSync(new URL(file, DIR), 'utf8'));
      const sha = createHash('sha1').update(lua).digest('hex');
      return { name, file, keys: Number(m[2]), lua, sha };
    });
  return sources;
}

const defined = new WeakMap<RedisConn, Scripts>();

/** SCRIPT LOAD where the script will run: the server, or every master of a cluster. */
async function load(redis: RedisConn, lua: string): Promise<void> {
  const targets = 'nodes' in redis ? redis.nodes('master') : [redis];
  await Promise.all(targets.map((r) => r.script('LOAD', lua)));
}

/** A refusal by the user's ACL, said as what to do. */
function refused(err: unknown, s: ScriptSource): unknown {
  if (!(err instanceof Error) || !err.message.startsWith('NOPERM')) return err;
  return new KilnError(
    'ERR_CONFIG',
    `the Redis user may not run ${s.file} (sha1 ${s.sha}): ${err.message}; ` +
      'the ACL file is older than these scripts or of another role: regenerate it with kiln redis acl',
    { cause: err },
  );
}

/** Defines every script on a connection (once per connection) and returns them typed. */
export function defineScripts(redis: RedisConn): Scripts {
  const known = defined.get(redis);
  if (known) return known;
  const out: Record<string, ScriptFn | BufferScriptFn> = {};
  for (const s of scriptSources()) {
    const withLoad =
      <T>(call: (args: (string | number)[]) => Promise<T>) =>
      async (...args: (string | number)[]): Promise<T> => {
        try {
          return await call(args);
        } catch (err) {
          if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw refused(err, s);
        }
        try {
          await load(redis, s.lua);
          return await call(args);
        } catch (err) {
          throw refused(err, s);
        }
      };
    out[s.name] = withLoad((args) => redis.evalsha(s.sha, s.keys, ...args) as Promise<Reply>);
    // ioredis makes `evalshaBuffer` like every command's Buffer variant but leaves it out of its
    // types (and callBuffer breaks under auto-pipelining).
    const buffered = redis as unknown as { evalshaBuffer: EvalShaBuffer };
    out[`${s.name}Buffer`] = withLoad((args) => buffered.evalshaBuffer(s.sha, s.keys, ...args));
  }
  const scripts = out as unknown as Scripts;
  defined.set(redis, scripts);
  return scripts;
}
