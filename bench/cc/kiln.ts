/**
 * kiln as bench:cc runs it: which client (the native front by default), the environment of a
 * build against a local farm, and the client's stats.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Stats } from '../../client/cc/stats.ts';
import type { DevFarm } from '../../wiring/dev-farm.ts';
import { baseEnv, run } from './proc.ts';
import type { Compiler } from './project.ts';

export const REPO = fileURLToPath(new URL('../..', import.meta.url));
export const WORK = join(REPO, 'bench', '.work');
export const KILN_BIN = join(REPO, 'client', 'bin', 'kiln.js');
/** The native front (built by scripts/setup.mjs) is how make runs kiln on Linux; else the Node client. */
const SHIM = join(REPO, 'client', 'cc', 'native', 'kiln-cc');

/**
 * KILN_BENCH_CC: the compiler command of the kiln variants, in place of `gcc` (so another kiln
 * client can be benched); its last word is the compiler, the words before it the launcher.
 * @default "<repo>/client/cc/native/kiln-cc gcc" (the native front and its daemon) when it is
 * built, else "node <repo>/client/bin/kiln.js cc gcc"
 */
export const KILN_CC =
  process.env.KILN_BENCH_CC || (existsSync(SHIM) ? `${SHIM} gcc` : `${process.execPath} ${KILN_BIN} cc gcc`);

export function kilnCompiler(): Compiler {
  const words = KILN_CC.trim().split(/\s+/);
  return { launcher: words.slice(0, -1), cc: words[words.length - 1]! };
}

export function kilnEnv(farm: DevFarm, statsFile: string): NodeJS.ProcessEnv {
  return {
    ...baseEnv(),
    KILN_GATEWAY: farm.url,
    KILN_TOKEN: farm.token,
    KILN_STATS_FILE: statsFile,
    XDG_CONFIG_HOME: join(WORK, 'empty-config'), // no kiln.toml: no preset, the builders' host gcc
    KILN_CC_SOCKET: join(WORK, 'cc.sock'), // this bench's own kiln cc daemon, gone 20 s after the last build
    KILN_CC_DAEMON_IDLE_MS: '20000',
  };
}

export async function readKilnStats(statsFile: string): Promise<Stats> {
  const r = await run(process.execPath, [KILN_BIN, 'stats', '--json'], {
    env: { ...process.env, KILN_STATS_FILE: statsFile },
  });
  if (r.code !== 0) throw new Error(`kiln stats failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Stats;
}

const reasons = (r: Record<string, number>): string =>
  Object.entries(r)
    .map(([k, n]) => `${k} ×${n}`)
    .join(', ');

/** Why compiles did not go to the farm, in a few words. */
export function whyLocal(s: Stats): string | undefined {
  const why = [
    Object.keys(s.fallbackReasons).length ? `fallbacks: ${reasons(s.fallbackReasons)}` : '',
    Object.keys(s.localReasons).length ? `local: ${reasons(s.localReasons)}` : '',
  ]
    .filter(Boolean)
    .join('; ');
  return why || undefined;
}
