/**
 * Reads an Ansible inventory (INI or YAML) the way `ansible-inventory` resolves it, for what
 * `kiln fleet` needs: hosts, their groups, and their variables (host vars over child groups over
 * parents over `all`, plus `group_vars/` and `host_vars/` next to the file). Values that are
 * templates (`{{ … }}`, for example vault indirections) are left out: kiln cannot evaluate them.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { UserError } from '../errors.ts';

export type Vars = Record<string, unknown>;

export interface InventoryHost {
  name: string;
  /** Every group the host is in, parents included (not `all`). */
  groups: string[];
  vars: Vars;
}

interface Group {
  hosts: Map<string, Vars>;
  vars: Vars;
  children: Set<string>;
}

type Groups = Map<string, Group>;

function group(groups: Groups, name: string): Group {
  let g = groups.get(name);
  if (!g) groups.set(name, (g = { hosts: new Map(), vars: {}, children: new Set() }));
  return g;
}

/** `web[01:03].example` → web01.example, web02.example, web03.example. */
export function expandHostPattern(name: string): string[] {
  const m = /^(.*)\[(\d+):(\d+)\](.*)$/.exec(name);
  if (!m) return [name];
  const [, pre, from, to, post] = m as unknown as [string, string, string, string, string];
  const width = from.length;
  const out: string[] = [];
  for (let i = Number(from); i <= Number(to); i++) {
    for (const rest of expandHostPattern(post)) out.push(`${pre}${String(i).padStart(width, '0')}${rest}`);
  }
  return out;
}

/** `a=1 b="two words" c='x'` → { a: 1, b: 'two words', c: 'x' } (numbers and booleans as Ansible reads them). */
export function parseKeyValues(text: string, where: string): Vars {
  const out: Vars = {};
  const re = /\s*([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\.)*"|'[^']*'|\S*)/gy;
  let m: RegExpExecArray | null;
  let end = 0;
  while ((m = re.exec(text))) {
    const raw = m[2]!;
    out[m[1]!] = raw.startsWith('"')
      ? raw.slice(1, -1).replace(/\\(.)/g, '$1')
      : raw.startsWith("'")
        ? raw.slice(1, -1)
        : scalar(raw);
    end = re.lastIndex;
  }
  if (text.slice(end).trim() !== '' && !text.slice(end).trim().startsWith('#')) {
    throw new UserError(`${where}: cannot read "${text.slice(end).trim()}" (expected key=value)`);
  }
  return out;
}

function scalar(raw: string): unknown {
  if (/^-?\d+$/.test(raw)) return Number(raw);
  if (/^(true|yes)$/i.test(raw)) return true;
  if (/^(false|no)$/i.test(raw)) return false;
  return raw;
}

export function parseIni(text: string, file: string): Groups {
  const groups: Groups = new Map();
  group(groups, 'all');
  let section = 'ungrouped';
  let kind: 'hosts' | 'vars' | 'children' = 'hosts';
  text.split(/\r?\n/).forEach((line, i) => {
    const where = `${file}:${i + 1}`;
    const t = line.trim();
    if (t === '' || t.startsWith('#') || t.startsWith(';')) return;
    const head = /^\[([^\]:]+)(?::(vars|children))?\]$/.exec(t);
    if (head) {
      section = head[1]!;
      kind = (head[2] as 'vars' | 'children' | undefined) ?? 'hosts';
      group(groups, section);
      return;
    }
    if (kind === 'vars') {
      const eq = t.indexOf('=');
      if (eq < 0) throw new UserError(`${where}: expected key=value in [${section}:vars]`);
      Object.assign(group(groups, section).vars, parseKeyValues(t, where));
    } else if (kind === 'children') {
      group(groups, section).children.add(t.split(/\s+/)[0]!);
      group(groups, t.split(/\s+/)[0]!);
    } else {
      const sp = t.search(/\s/);
      const name = sp < 0 ? t : t.slice(0, sp);
      const vars = sp < 0 ? {} : parseKeyValues(t.slice(sp), where);
      for (const h of expandHostPattern(name)) group(groups, section).hosts.set(h, vars);
    }
  });
  return groups;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function parseYamlInventory(text: string, file: string): Groups {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new UserError(`${file}: not valid YAML: ${(err as Error).message}`);
  }
  if (!isObject(doc))
    throw new UserError(`${file}: expected a mapping of groups (all: {hosts, children, vars})`);
  const groups: Groups = new Map();
  group(groups, 'all');
  const walk = (name: string, body: unknown): void => {
    const g = group(groups, name);
    if (body === null || body === undefined) return;
    if (!isObject(body)) throw new UserError(`${file}: group ${name} must be a mapping`);
    for (const [h, vars] of Object.entries(isObject(body.hosts) ? body.hosts : {})) {
      for (const n of expandHostPattern(h)) g.hosts.set(n, isObject(vars) ? vars : {});
    }
    if (isObject(body.vars)) Object.assign(g.vars, body.vars);
    for (const [child, cbody] of Object.entries(isObject(body.children) ? body.children : {})) {
      g.children.add(child);
      walk(child, cbody);
    }
  };
  for (const [name, body] of Object.entries(doc)) walk(name, body);
  return groups;
}

/** Variables from `<dir>/<name>.yml|.yaml|.json`, `<dir>/<name>` or every file of `<dir>/<name>/`. */
function varsFiles(dir: string, name: string): Vars {
  const out: Vars = {};
  const base = join(dir, name);
  const files: string[] = [];
  for (const ext of ['', '.yml', '.yaml', '.json']) {
    if (existsSync(base + ext) && statSync(base + ext).isFile()) files.push(base + ext);
  }
  if (existsSync(base) && statSync(base).isDirectory()) {
    for (const f of readdirSync(base).sort()) if (/\.(ya?ml|json)$/.test(f)) files.push(join(base, f));
  }
  for (const f of files) {
    const text = readFileSync(f, 'utf8');
    if (text.startsWith('$ANSIBLE_VAULT')) continue; // encrypted: only Ansible reads it
    const v: unknown = parseYaml(text);
    if (isObject(v)) Object.assign(out, v);
  }
  return out;
}

/** Drops template values (`{{ … }}`): they need Ansible (and often the vault) to resolve. */
function literal(vars: Vars): Vars {
  return Object.fromEntries(
    Object.entries(vars).filter(([, v]) => !(typeof v === 'string' && v.includes('{{'))),
  );
}

/** Reads the inventory file and resolves every host's groups and variables. */
export function readInventory(file: string): InventoryHost[] {
  if (!existsSync(file)) throw new UserError(`no inventory at ${file} (give one with -i FILE)`);
  const text = readFileSync(file, 'utf8');
  const yaml = /\.ya?ml$/.test(file) || /^\s*(---|all\s*:)/.test(text);
  const groups = yaml ? parseYamlInventory(text, file) : parseIni(text, file);
  const dir = dirname(file);
  const parents = new Map<string, string[]>();
  for (const [name, g] of groups) {
    for (const c of g.children) parents.set(c, [...(parents.get(c) ?? []), name]);
  }
  // Depth of each group from `all`, so shallower groups' vars are applied first.
  const depth = (name: string, seen = new Set<string>()): number => {
    if (name === 'all' || seen.has(name)) return 0;
    seen.add(name);
    const ps = parents.get(name) ?? [];
    return ps.length === 0 ? 1 : 1 + Math.max(...ps.map((p) => depth(p, seen)));
  };
  const ancestors = (name: string, acc = new Set<string>()): Set<string> => {
    for (const p of parents.get(name) ?? []) if (!acc.has(p)) ancestors(p, acc.add(p));
    return acc;
  };
  const hosts = new Map<string, { groups: Set<string>; vars: Vars }>();
  for (const [name, g] of groups) {
    for (const [h, vars] of g.hosts) {
      const entry = hosts.get(h) ?? { groups: new Set<string>(), vars: {} };
      entry.groups.add(name);
      for (const a of ancestors(name)) entry.groups.add(a);
      Object.assign(entry.vars, vars);
      hosts.set(h, entry);
    }
  }
  return [...hosts].map(([name, { groups: gs, vars }]) => {
    const ordered = [...gs]
      .filter((g) => g !== 'all')
      .sort((a, b) => depth(a) - depth(b) || a.localeCompare(b));
    const merged: Vars = { ...varsFiles(join(dir, 'group_vars'), 'all'), ...groups.get('all')!.vars };
    for (const g of ordered)
      Object.assign(merged, varsFiles(join(dir, 'group_vars'), g), groups.get(g)?.vars);
    Object.assign(merged, vars, varsFiles(join(dir, 'host_vars'), name));
    return { name, groups: ordered.filter((g) => g !== 'ungrouped' || gs.size === 1), vars: literal(merged) };
  });
}

/** Hosts matching any pattern: a host name, a group name, or `all`. */
export function selectHosts(hosts: InventoryHost[], patterns: string[]): InventoryHost[] {
  const out = hosts.filter((h) => patterns.some((p) => p === 'all' || p === h.name || h.groups.includes(p)));
  if (out.length === 0) {
    const groups = [...new Set(hosts.flatMap((h) => h.groups))].sort().join(', ');
    throw new UserError(
      `no host of the inventory matches ${patterns.join(' ')} (groups: ${groups || 'none'})`,
    );
  }
  return out;
}
