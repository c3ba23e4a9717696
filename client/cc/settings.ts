/**
 * What `kiln cc` needs from the client settings, read cheaply (it runs once per compile): the
 * gateway, the token, and the `[toolchains]` map from compiler names to presets.
 */
import { readFileSync } from 'node:fs';
import { basename, isAbsolute, normalize } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { configFile } from '../dirs.ts';

export interface CcSettings {
  gateway: string | null;
  token: string | null;
  /** Preset for each compiler name (`gcc` → `gcc-12@linux-x86_64`). */
  toolchains: Record<string, string>;
  /** Seconds a remote compile may take before kiln gives up and compiles locally. @default 120 */
  timeoutSec: number;
  verbose: boolean;
  /**
   * Paths under it are named relative to the compile's layout root in what the farm sees, so
   * checkouts below it share cache entries (client/cc/remote-layout.ts); null: no base directory.
   */
  baseDir: string | null;
  /** Refuse results whose key is not a registered builder's (`verifySigner`, KILN_VERIFY_SIGNER). @default false */
  verifySigner: boolean;
}

export function ccSettings(cwd: string, env: NodeJS.ProcessEnv): CcSettings {
  const file = configFile(cwd, env);
  let data: Record<string, unknown> = {};
  if (file) {
    try {
      data = parseToml(readFileSync(file, 'utf8')) as Record<string, unknown>;
    } catch {
      data = {}; // a broken kiln.toml must not break a build: kiln cc then compiles locally
    }
  }
  const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);
  const map =
    typeof data.toolchains === 'object' && data.toolchains !== null
      ? (data.toolchains as Record<string, unknown>)
      : {};
  const toolchains: Record<string, string> = {};
  for (const [k, v] of Object.entries(map)) if (typeof v === 'string') toolchains[k] = v;
  const cc = typeof data.cc === 'object' && data.cc !== null ? (data.cc as Record<string, unknown>) : {};
  const base = str(env.KILN_CC_BASEDIR) ?? str(cc.basedir);
  return {
    baseDir: base && isAbsolute(base) ? normalize(base).replace(/(.)\/+$/, '$1') : null,
    gateway: (str(env.KILN_GATEWAY) ?? str(data.gateway))?.replace(/\/+$/, '') ?? null,
    token: str(env.KILN_TOKEN) ?? str(data.token),
    toolchains,
    timeoutSec: Number(env.KILN_CC_TIMEOUT ?? 120) || 120,
    verbose: env.KILN_CC_VERBOSE === '1' || env.KILN_VERBOSE === '1',
    verifySigner:
      /^(1|true|yes)$/i.test(env.KILN_VERIFY_SIGNER ?? '') ||
      (env.KILN_VERIFY_SIGNER === undefined && data.verifySigner === true),
  };
}

/** The preset for a compiler as invoked (`/usr/bin/gcc-12` → the entry for `gcc-12`, `C:\LLVM\bin\clang-cl.exe` → `clang-cl`). */
export function presetFor(compiler: string, s: CcSettings): string | undefined {
  const name = basename(compiler);
  return s.toolchains[name] ?? s.toolchains[name.replace(/\.exe$/i, '')] ?? s.toolchains[compiler];
}
