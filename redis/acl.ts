/**
 * The Redis ACL of a farm, generated from the code so it cannot drift from it: key and channel
 * patterns from protocol/keys.ts, the commands each role sends (the ones written here, and the
 * ones inside the Lua scripts it runs, read from the scripts themselves), and the SHA1 of each
 * script a builder may run (`+evalsha|<sha1>`: a builder cannot run the gateway's scripts, nor
 * any Lua of its own, since no role may EVAL). `kiln redis acl` prints it (client/commands/redis-acl.ts);
 * docs/security.md says what it enforces and what it cannot.
 */
import { PLATFORMS } from '../protocol/platforms.ts';
import { redisKeys } from '../protocol/keys.ts';
import { scriptSources, type ScriptSource } from './scripts.ts';

/** What every kiln connection sends besides its work: the handshake, the ready check, cluster topology. */
const CONNECTION = [
  'auth',
  'hello',
  'client|setname',
  'client|getname',
  'info',
  'ping',
  'select',
  'quit',
  'cluster|slots',
  'cluster|shards',
  'cluster|nodes',
  'cluster|info',
  'readonly',
  'asking',
];

/** Commands redis/farm.ts, redis/presets.ts, redis/events.ts and redis/log-stream.ts send (the gateway). */
const GATEWAY = [
  'get',
  'set',
  'del',
  'expire',
  'hset',
  'hget',
  'hmget',
  'hgetall',
  'hdel',
  'xadd',
  'xrange',
  'zadd',
  'zrem',
  'zrange',
  'zrevrange',
  'zrangebyscore',
  'zrevrangebyscore',
  'zremrangebyrank',
  'zremrangebyscore',
  'zscore',
  'mget',
  'sadd',
  'srem',
  'smembers',
  'publish',
  'subscribe',
  'unsubscribe',
  'multi',
  'exec',
  'discard',
  'script|load',
];

/** Commands redis/builder-farm.ts, redis/registry.ts (its builder half) and redis/pot-leases.ts send. */
const BUILDER = [
  'set',
  'expire',
  'hset',
  'hget',
  'hgetall',
  'hdel',
  'zadd',
  'sadd',
  'xgroup|create',
  'xadd',
  'xreadgroup',
  'xautoclaim',
  'xack',
  'xdel',
  'publish',
  'subscribe',
  'unsubscribe',
  'multi',
  'exec',
  'discard',
  'script|load',
];

/** The scripts a builder runs (redis/builder-farm.ts, redis/registry.ts lease and release). */
export const BUILDER_SCRIPTS = ['registerBuilder', 'startJob', 'completeJob', 'releaseSlot'] as const;

/** A builder's id is `<name>-<8 hex digits>` (builders/core/agent.ts): exactly that, as a glob. */
const ID_SUFFIX = '-' + '[0-9a-f]'.repeat(8);

/** The commands called inside these scripts (`redis.call('HSET', …)`), lower-cased. */
export function scriptCommands(scripts: ScriptSource[]): string[] {
  const out = new Set<string>();
  for (const s of scripts)
    for (const m of s.lua.matchAll(/redis\.p?call\(\s*['"]([A-Za-z]+)['"]/g)) out.add(m[1]!.toLowerCase());
  return [...out].sort();
}

function byName(names: readonly string[]): ScriptSource[] {
  const all = scriptSources();
  return names.map((n) => {
    const s = all.find((x) => x.name === n);
    if (!s) throw new Error(`redis/acl.ts names a script that redis/scripts/ lacks: ${n}`);
    return s;
  });
}

const allow = (cmds: Iterable<string>): string[] => [...new Set(cmds)].map((c) => `+${c}`);

/** The ACL rules of the gateway: every key and channel of the farm's prefix, no admin command. */
export function gatewayRules(prefix: string): string[] {
  return [
    'resetkeys',
    'resetchannels',
    `~${prefix}:*`,
    `&${prefix}:*`,
    '-@all',
    ...allow([...CONNECTION, ...GATEWAY, ...scriptCommands(scriptSources())]),
    // Any of the farm's scripts: they are bounded by the commands and keys above anyway.
    '+evalsha',
  ];
}

/** Which builder a builder user is for: a name (`*` for any builder), and its platform if known. */
export interface BuilderScope {
  /** The builder's `name` (builder.toml); `*` gives one user for every builder (weaker: see docs). */
  name: string;
  /** Its platform; @default every platform */
  platform?: string;
}

/** The keys of one builder: its own key, stream and control channel, its platform's registry, jobs. */
export function builderRules(prefix: string, scope: BuilderScope): string[] {
  const keys = redisKeys(prefix);
  const id = scope.name === '*' ? '*' : scope.name + ID_SUFFIX;
  const platform = scope.platform ?? '*';
  const r = keys.registry(platform);
  const freebsd = scope.platform === undefined || scope.platform.startsWith('freebsd-');
  const patterns = [
    keys.builderKey(id),
    keys.signerKey(id),
    keys.signers,
    keys.builderStream(id),
    keys.builderPlatform,
    r.leases,
    r.builders,
    r.load,
    r.slots,
    r.warmof,
    r.free,
    r.drained,
    r.names,
    r.selfdrain,
    r.assign,
    r.replace,
    `${r.warmPrefix}*`,
    `${r.jobsPrefix}${id}`,
    keys.job('*'),
    keys.jobLog('*'),
    ...(freebsd ? [keys.potLeases('*')] : []),
  ];
  const scripts = byName(BUILDER_SCRIPTS);
  return [
    'resetkeys',
    'resetchannels',
    ...patterns.map((p) => `~${p}`),
    `&${keys.builderControl(id)}`,
    `&${keys.jobEvents('*')}`,
    '-@all',
    ...allow([...CONNECTION, ...BUILDER, ...scriptCommands(scripts)]),
    ...scripts.map((s) => `+evalsha|${s.sha}`),
  ];
}

/** One user of the file: its name, its rules, and the SHA-256 (hex) of its password. */
export interface AclUser {
  name: string;
  rules: string[];
  passwordSha256: string;
}

/** The ACL file (`aclfile` / `--aclfile`): no comments (Redis allows none), default user off. */
export function aclFile(users: AclUser[]): string {
  const lines = ['user default off resetpass resetkeys resetchannels -@all'];
  for (const u of users)
    lines.push(['user', u.name, 'on', 'resetpass', `#${u.passwordSha256}`, ...u.rules].join(' '));
  return lines.join('\n') + '\n';
}

/** The user name of a builder scope: `kiln-builder-<name>`, or `kiln-builder` for any builder. */
export function builderUser(scope: BuilderScope): string {
  return scope.name === '*' ? 'kiln-builder' : `kiln-builder-${scope.name}`;
}

/** Checks a `NAME[@PLATFORM]` argument; returns the scope or a message saying what is wrong. */
export function parseBuilderScope(arg: string): BuilderScope | string {
  const [name = '', platform, extra] = arg.split('@');
  if (extra !== undefined) return `--builder ${arg}: one @ at most (NAME@PLATFORM)`;
  if (name !== '*' && !/^[A-Za-z0-9_.-]{1,64}$/.test(name))
    return `--builder ${arg}: the name must be a builder name (letters, digits, _ . -), as in builder.toml, or *`;
  if (platform !== undefined && !(PLATFORMS as readonly string[]).includes(platform))
    return `--builder ${arg}: unknown platform ${platform} (one of ${PLATFORMS.join(', ')})`;
  return { name, ...(platform !== undefined ? { platform } : {}) };
}
