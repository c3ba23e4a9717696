/**
 * Configuration files (TOML) with environment overrides, validated with every problem reported
 * at once, each with its path. `KILN_A__B=value` sets `a.b` (`__` nests; each part is lower-cased
 * and `_x` becomes `X`, so `KILN_LIMITS__MAX_ATTEMPTS` sets `limits.maxAttempts`); a variable with
 * no `__` sets a top-level key that is not a section, when the schema has one by that name
 * (`KILN_SLOTS`, `KILN_WORK_DIR`). The value is parsed as JSON when it can be, else a string.
 */
import { readFileSync } from 'node:fs';
import { parse as parseToml } from 'smol-toml';
import type { z } from 'zod';
import { KilnError } from '../protocol/errors.ts';
import { formatIssues } from '../protocol/validate.ts';

type Obj = Record<string, unknown>;

function camel(s: string): string {
  return s.toLowerCase().replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
}

/**
 * Applies `KILN_X__Y` variables to `base`, and `KILN_X` ones for the plain top-level keys named in
 * `topLevel` (so client settings such as KILN_TOKEN never reach a server config).
 */
export function envOverrides(
  base: Obj,
  env: NodeJS.ProcessEnv,
  prefix = 'KILN_',
  topLevel: readonly string[] = [],
): Obj {
  const out = structuredClone(base);
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith(prefix) || raw === undefined) continue;
    const path = name.slice(prefix.length).split('__').map(camel);
    if (path.length === 1 && !topLevel.includes(path[0]!)) continue;
    let node: Obj = out;
    for (const seg of path.slice(0, -1)) {
      if (typeof node[seg] !== 'object' || node[seg] === null) node[seg] = {};
      node = node[seg] as Obj;
    }
    let value: unknown = raw;
    try {
      value = JSON.parse(raw);
    } catch {
      /* a plain string */
    }
    node[path.at(-1)!] = value;
  }
  return out;
}

/** The top-level keys of an object schema that are not sections (objects) themselves. */
function plainKeys(schema: z.ZodType): string[] {
  const shape = (schema as unknown as { shape?: Record<string, z.ZodType> }).shape;
  if (!shape) return [];
  return Object.entries(shape)
    .filter(([, t]) => {
      let inner = t as unknown as { def?: { type?: string; innerType?: unknown } };
      while (inner.def?.innerType) inner = inner.def.innerType as typeof inner;
      return inner.def?.type !== 'object';
    })
    .map(([k]) => k);
}

/** Reads a TOML file (if given), applies the environment, validates. */
export function loadConfig<S extends z.ZodType>(
  schema: S,
  opts: { file?: string; env?: NodeJS.ProcessEnv; base?: Obj },
): z.infer<S> {
  let data: Obj = opts.base ?? {};
  if (opts.file) {
    let text: string;
    try {
      text = readFileSync(opts.file, 'utf8');
    } catch (err) {
      throw new KilnError('ERR_CONFIG', `cannot read config file ${opts.file}: ${(err as Error).message}`);
    }
    try {
      data = { ...data, ...(parseToml(text) as Obj) };
    } catch (err) {
      throw new KilnError('ERR_CONFIG', `${opts.file} is not valid TOML: ${(err as Error).message}`);
    }
  }
  data = envOverrides(data, opts.env ?? process.env, 'KILN_', plainKeys(schema));
  const r = schema.safeParse(data);
  if (r.success) return r.data;
  const problems = formatIssues(r.error.issues);
  const where = opts.file ? ` in ${opts.file}` : '';
  throw new KilnError(
    'ERR_CONFIG',
    `${problems.length} configuration problem(s)${where}:\n  ${problems.join('\n  ')}`,
    {
      detail: { problems },
    },
  );
}
