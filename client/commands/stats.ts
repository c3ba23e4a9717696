/** `kiln stats [--json] [--reset]`: what `kiln cc` did, like `sccache --show-stats`. */
import { say, type Io } from '../command.ts';
import { readStats, resetStats, type Stats } from '../cc/stats.ts';
import { UserError } from '../errors.ts';

/** How many reasons of each kind the table lists. */
const TOP = 10;

function row(label: string, value: string | number): string {
  return `${label.padEnd(40)}${String(value).padStart(10)}`;
}

function top(reasons: Record<string, number>): [string, number][] {
  return Object.entries(reasons)
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .slice(0, TOP);
}

/** The human table. */
export function formatStats(s: Stats): string {
  const lookups = s.cacheHits + s.cacheMisses;
  const rate = lookups === 0 ? '-' : `${((100 * s.cacheHits) / lookups).toFixed(2)} %`;
  const lines = [
    row('Compile requests', s.compiles),
    row('  Cache hits', s.cacheHits),
    row('  Cache misses (compiled on the farm)', s.cacheMisses),
    row('  Local (not distributable)', s.local),
    row('  Local keep hits (compiled here before)', s.keepHits),
    row('  Fallbacks to local (farm failed)', s.fallbacks),
    row('Remote (hits + misses)', s.remote),
    row('Compile errors', s.errors),
    row('Cache hit rate', rate),
  ];
  const sections: [string, Record<string, number>][] = [
    ['Compiled locally because', s.localReasons],
    ['Fell back to local because', s.fallbackReasons],
  ];
  for (const [title, reasons] of sections) {
    const list = top(reasons);
    if (list.length === 0) continue;
    lines.push('', title);
    for (const [reason, n] of list) lines.push(row(`  ${reason}`, n));
    const rest = Object.keys(reasons).length - list.length;
    if (rest > 0) lines.push(`  … and ${rest} more (--json lists them all)`);
  }
  lines.push('', `Stats file  ${s.file}${s.since ? ` (since ${s.since})` : ''}`);
  return lines.join('\n');
}

export async function handler(a: { json: boolean; reset: boolean }, io: Io): Promise<number> {
  const opts = { env: io.env };
  if (a.reset) {
    try {
      resetStats(opts);
    } catch (err) {
      throw new UserError((err as Error).message);
    }
    if (a.json) say(io.stdout, JSON.stringify({ reset: true }));
    else say(io.stdout, 'kiln stats: counters reset');
    return 0;
  }
  const s = readStats(opts);
  say(io.stdout, a.json ? JSON.stringify(s) : formatStats(s));
  return 0;
}
