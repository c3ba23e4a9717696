/**
 * `kiln redis acl [--builder NAME[@PLATFORM]]… [--password-dir DIR] [--out FILE]` — prints the
 * farm's Redis ACL file (redis/acl.ts): the gateway's user, one user per builder name, an
 * operator's admin user, the default user off. The file holds only SHA-256 digests of the
 * passwords; each password comes from $KILN_REDIS_PASSWORD_<USER>, else from DIR/<user>.password,
 * else it is generated (and written there when DIR is given). Stderr says which, user by user.
 * `--keep OLD.acl` also allows the scripts OLD.acl allowed each builder user (a rolling upgrade:
 * builders of the old release and of the new one run at once).
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { say, type Io } from '../command.ts';
import { UserError } from '../errors.ts';
import {
  aclFile,
  builderRules,
  builderUser,
  gatewayRules,
  parseBuilderScope,
  type AclUser,
  type BuilderScope,
} from '../../redis/acl.ts';

interface AclArgs {
  prefix: string;
  keep?: string;
  builder?: (string | number)[];
  passwordDir?: string;
  admin: boolean;
  out?: string;
}

/** The environment variable holding a user's password: KILN_REDIS_PASSWORD_KILN_BUILDER_B1. */
export function passwordVariable(user: string): string {
  return 'KILN_REDIS_PASSWORD_' + user.toUpperCase().replace(/[^A-Z0-9]/g, '_');
}

/** The password of `user` and a sentence saying where it came from. */
function passwordOf(user: string, a: AclArgs, io: Io): { password: string; told: string } {
  const variable = passwordVariable(user);
  const fromEnv = io.env[variable];
  if (fromEnv) return { password: fromEnv, told: `password from $${variable}` };
  const file = a.passwordDir ? join(a.passwordDir, `${user}.password`) : null;
  if (file && existsSync(file)) {
    const password = readFileSync(file, 'utf8').replace(/\r?\n$/, '');
    if (password === '') throw new UserError(`${file} is empty: remove it to have a password generated`);
    return { password, told: `password from ${file}` };
  }
  const password = randomBytes(24).toString('base64url');
  if (!file)
    return {
      password,
      told: `password generated, not saved (give --password-dir to keep it): ${password}`,
    };
  mkdirSync(a.passwordDir!, { recursive: true, mode: 0o700 });
  writeFileSync(file, password + '\n', { mode: 0o600, flag: 'wx' });
  return { password, told: `password generated, written to ${file}` };
}

/** The `+evalsha|<sha1>` rules of each user of an ACL file. */
function keptScripts(file: string): Map<string, string[]> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UserError(`cannot read --keep ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  const out = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const [word, user, ...rules] = line.trim().split(/\s+/);
    if (word !== 'user' || !user) continue;
    out.set(
      user,
      rules.filter((r) => /^\+evalsha\|[0-9a-f]{40}$/.test(r)),
    );
  }
  return out;
}

export async function handler(a: AclArgs, io: Io): Promise<number> {
  if (!/^[A-Za-z0-9_.-]+$/.test(a.prefix))
    throw new UserError(`--prefix ${a.prefix}: letters, digits, _ . - only (redis.prefix of the farm)`);
  const scopes: BuilderScope[] = [];
  for (const raw of a.builder ?? []) {
    const s = parseBuilderScope(String(raw));
    if (typeof s === 'string') throw new UserError(s);
    if (scopes.some((x) => x.name === s.name)) throw new UserError(`--builder ${s.name} is given twice`);
    scopes.push(s);
  }
  const wanted: { name: string; rules: string[] }[] = [
    { name: 'kiln-gateway', rules: gatewayRules(a.prefix) },
    ...scopes.map((s) => ({ name: builderUser(s), rules: builderRules(a.prefix, s) })),
    ...(a.admin ? [{ name: 'kiln-admin', rules: ['~*', '&*', '+@all'] }] : []),
  ];
  const kept = a.keep ? keptScripts(a.keep) : new Map<string, string[]>();
  for (const w of wanted) {
    if (!w.name.startsWith('kiln-builder')) continue;
    const old = (kept.get(w.name) ?? []).filter((r) => !w.rules.includes(r));
    if (old.length > 0) say(io.stderr, `${w.name}: also the ${old.length} script(s) of ${a.keep} it allowed`);
    w.rules.push(...old);
  }
  const users: AclUser[] = [];
  for (const w of wanted) {
    const { password, told } = passwordOf(w.name, a, io);
    const passwordSha256 = createHash('sha256').update(password).digest('hex');
    users.push({ name: w.name, rules: w.rules, passwordSha256 });
    say(io.stderr, `${w.name}: ${told}`);
  }
  if (scopes.length === 0)
    say(io.stderr, 'no --builder given: the file has no builder user (one per builder name: --builder NAME)');
  if (scopes.some((s) => s.name === '*'))
    say(
      io.stderr,
      'kiln-builder (--builder "*") serves every builder: builders can then read each other\'s keys',
    );
  const text = aclFile(users);
  if (a.out) {
    writeFileSync(a.out, text, { mode: 0o640 });
    say(io.stderr, `wrote ${a.out}: load it with redis-server --aclfile ${a.out} (or ACL LOAD)`);
  } else io.stdout.write(text);
  return 0;
}
