/**
 * Where a V8 CPU profile (.cpuprofile) spends its busy time, per unit of work (e.g. per compile):
 * self time by file and by function, and the inclusive time of the repository's own functions.
 * Used by bench:farm-cpu --cpu-profile; also runnable on its own:
 *
 *   npx tsx bench/profile/summary.ts <file.cpuprofile> [units] [rows]
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  /** µs between consecutive samples (the first: since startTime). */
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

const REPO = /^.*?\/(?:main|wt\/[^/]+|cirun\/main)\//;
const fileOf = (f: CallFrame): string => {
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(f.url);
  if (pkg) return `npm:${pkg[1]}`;
  return f.url ? f.url.replace(/^file:\/\//, '').replace(REPO, '') : f.functionName || '(native)';
};
const fnOf = (f: CallFrame): string => `${f.functionName || '(anonymous)'} ${fileOf(f)}:${f.lineNumber + 1}`;
const ours = (f: CallFrame): boolean => f.url.startsWith('file://') && !f.url.includes('node_modules');

function add(m: Map<string, number>, k: string, v: number): void {
  m.set(k, (m.get(k) ?? 0) + v);
}

/** A span of the monotonic clock V8 stamps its samples with (process.hrtime's), in µs. */
export interface Window {
  fromUs: number;
  toUs: number;
}

/** The samples taken within `w`, with the span they cover. */
function within(p: Profile, w: Window): Profile {
  const samples: number[] = [];
  let t = p.startTime;
  p.samples.forEach((id, i) => {
    t += p.timeDeltas[i] ?? 0;
    if (t >= w.fromUs && t <= w.toUs) samples.push(id);
  });
  const startTime = Math.max(p.startTime, w.fromUs);
  return { ...p, samples, startTime, endTime: Math.max(startTime, Math.min(p.endTime, w.toUs)) };
}

/**
 * The summary of one profile as text: `units` divides every figure (ms per unit); with `w`, only
 * the samples taken within it (a daemon's profile that also holds its start, say).
 */
export function summarize(path: string, units = 1, rows = 20, w?: Window): string {
  const whole = JSON.parse(readFileSync(path, 'utf8')) as Profile;
  const p = w ? within(whole, w) : whole;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const msPerSample = (p.endTime - p.startTime) / 1000 / Math.max(1, p.samples.length);
  const byFile = new Map<string, number>();
  const byFn = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let busy = 0;
  for (const id of p.samples) {
    const n = byId.get(id)!;
    if (n.callFrame.functionName === '(idle)') continue;
    busy += msPerSample;
    add(byFile, fileOf(n.callFrame), msPerSample);
    add(byFn, fnOf(n.callFrame), msPerSample);
    const seen = new Set<string>();
    for (let c: number | undefined = id; c !== undefined; c = parent.get(c)) {
      const f = byId.get(c)!.callFrame;
      const k = fnOf(f);
      if (!ours(f) || seen.has(k)) continue;
      add(inclusive, k, msPerSample);
      seen.add(k);
    }
  }
  const table = (title: string, m: Map<string, number>): string =>
    [
      `  ${title}`,
      ...[...m]
        .sort((a, b) => b[1] - a[1])
        .slice(0, rows)
        .map(([k, v]) => `  ${(v / units).toFixed(2).padStart(8)}  ${k}`),
    ].join('\n');
  return [
    `${basename(path)}: busy ${(busy / units).toFixed(1)} ms per unit (${busy.toFixed(0)} ms in all)`,
    table('self, by file (ms/unit)', byFile),
    table('self, by function', byFn),
    table('inclusive, the repository’s functions', inclusive),
  ].join('\n');
}

if (process.argv[1] && import.meta.url.endsWith(basename(process.argv[1]))) {
  const [path, units, rows] = process.argv.slice(2);
  if (!path) {
    console.error('usage: tsx bench/profile/summary.ts <file.cpuprofile> [units] [rows]');
    process.exit(2);
  }
  console.log(summarize(path, Number(units ?? 1), Number(rows ?? 20)));
}
