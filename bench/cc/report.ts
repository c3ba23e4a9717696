/** bench:cc's output: one line per build as it finishes, and a table of medians per project. */
import { cpus, loadavg } from 'node:os';
import { median } from './proc.ts';

export type Variant =
  'local' | 'distcc' | 'ccache cold' | 'ccache warm' | 'kiln cold' | 'kiln warm' | 'kiln warm2';
export const VARIANTS: readonly Variant[] = [
  'local',
  'distcc',
  'ccache cold',
  'ccache warm',
  'kiln cold',
  'kiln warm',
  'kiln warm2',
];

export interface Build {
  variant: Variant;
  rep: number;
  dir: string;
  wallMs: number;
  cpuMs: number;
  /** CPU of the servers: distccd, or the farm's agents, redis and gateway (not the sandboxed jobs). */
  serverCpuMs?: number;
  /** Busy CPU of the whole machine during the build (anything else running included). */
  machineCpuMs: number;
  load: number;
  /** distcc: jobs distccd completed. kiln: compiles the farm served (hits + misses). */
  remote?: number;
  hits?: number;
  /** kiln: compiles answered from the local keep of compiles run here (client/cc/local-keep.ts). */
  kept?: number;
  local?: number;
  fallbacks?: number;
  detail?: string;
  /** "33/33": objects byte-identical to a local build in the same folder. */
  same?: string;
  /** "=" when the build's compiler diagnostics are a local build's, else what differs. */
  diag: string;
  check: string;
}

/** Kiln cold must be at most this many times local, and at most distcc (issue 16). */
export const COLD_TARGET = 1.1;
/** Kiln warm, from the same folder and from another one. */
export const WARM_TARGET = 0.1;

const secs = (ms: number): string => (ms / 1000).toFixed(2);

export function line(b: Build, localMs: number | null): string {
  const ratio = localMs ? `${(b.wallMs / localMs).toFixed(2)}×` : '-';
  const counts = [
    b.remote !== undefined ? `remote ${b.remote}` : '',
    b.hits !== undefined ? `hits ${b.hits}` : '',
    b.kept !== undefined ? `kept ${b.kept}` : '',
    b.local !== undefined ? `local ${b.local}` : '',
    b.fallbacks !== undefined ? `fallbacks ${b.fallbacks}` : '',
  ]
    .filter(Boolean)
    .join(', ');
  return (
    `${b.variant.padEnd(11)} ${secs(b.wallMs).padStart(7)} s ${ratio.padStart(7)}  cpu ${secs(b.cpuMs).padStart(6)} s` +
    ` + server ${b.serverCpuMs === undefined ? '-' : secs(b.serverCpuMs)} s, machine ${secs(b.machineCpuMs)} s` +
    `  load ${b.load.toFixed(2).padStart(5)}  objs=local ${(b.same ?? '-').padStart(7)}  diag ${b.diag}  check ${b.check}` +
    (counts ? `  [${counts}]` : '') +
    (b.detail ? `  (${b.detail})` : '')
  );
}

/** The table of medians for one project, and its targets. */
export function summary(project: string, builds: Build[], repeat: number, jobs: number): void {
  const by = (v: Variant): Build[] => builds.filter((b) => b.variant === v);
  const localMed = median(by('local').map((b) => b.wallMs));
  console.log(
    `\n${project}: median of ${repeat} per variant, -j${jobs}, ${cpus().length} CPUs; load now ` +
      loadavg()
        .map((l) => l.toFixed(2))
        .join(' '),
  );
  console.log(
    `${'variant'.padEnd(11)} ${'wall s'.padStart(7)} ${'× local'.padStart(8)} ${'cpu s'.padStart(7)} ${'server'.padStart(7)} ${'machine'.padStart(7)}  ${'remote'.padStart(6)} ${'hits'.padStart(5)} ${'kept'.padStart(5)} ${'local'.padStart(5)} ${'fallb.'.padStart(6)} ${'objs=local'.padStart(10)} diag   load before`,
  );
  const med: Partial<Record<Variant, number>> = {};
  for (const v of VARIANTS) {
    const bs = by(v);
    if (!bs.length) continue;
    const w = median(bs.map((b) => b.wallMs));
    med[v] = w;
    const n = (f: (b: Build) => number | undefined): string => {
      const xs = bs.map(f).filter((x): x is number => x !== undefined);
      if (!xs.length) return '-';
      const lo = Math.min(...xs);
      const hi = Math.max(...xs);
      return lo === hi ? String(lo) : `${lo}-${hi}`;
    };
    const same = [...new Set(bs.map((b) => b.same ?? '-'))].join(' ');
    const diag = bs.every((b) => b.diag === '=') ? '=' : 'DIFF';
    console.log(
      `${v.padEnd(11)} ${secs(w).padStart(7)} ${`${(w / localMed).toFixed(2)}×`.padStart(8)} ` +
        `${secs(median(bs.map((b) => b.cpuMs))).padStart(7)} ` +
        `${(bs[0]!.serverCpuMs === undefined ? '-' : secs(median(bs.map((b) => b.serverCpuMs ?? 0)))).padStart(7)} ` +
        `${secs(median(bs.map((b) => b.machineCpuMs))).padStart(7)}  ` +
        `${n((b) => b.remote).padStart(6)} ` +
        `${n((b) => b.hits).padStart(5)} ${n((b) => b.kept).padStart(5)} ${n((b) => b.local).padStart(5)} ${n((b) => b.fallbacks).padStart(6)} ` +
        `${same.padStart(10)} ${diag.padEnd(6)} ` +
        bs.map((b) => b.load.toFixed(2)).join(' '),
    );
  }
  if (med.local && med['kiln cold'] && med.distcc && med['kiln warm'] && med['kiln warm2']) {
    const cold = med['kiln cold'] / med.local;
    const warm = med['kiln warm'] / med.local;
    const warm2 = med['kiln warm2'] / med.local;
    const vsDistcc = med['kiln cold'] / med.distcc;
    const mark = (ok: boolean): string => (ok ? 'met' : 'MISSED');
    console.log(
      `${project} targets: kiln cold ${cold.toFixed(2)}× local (≤ ${COLD_TARGET}: ${mark(cold <= COLD_TARGET)}), ` +
        `${vsDistcc.toFixed(2)}× distcc (≤ 1: ${mark(vsDistcc <= 1)}); kiln warm ${warm.toFixed(2)}× local, ` +
        `from another folder ${warm2.toFixed(2)}× (≤ ${WARM_TARGET}: ${mark(Math.max(warm, warm2) <= WARM_TARGET)})`,
    );
  }
}

export const CPU_NOTE =
  'CPU seconds. cpu: the build and its children (the kiln and distcc clients included). server: distccd, or the\n' +
  "farm's builder agents, redis and in-process gateway (NOT the sandboxed compilers: their CPU does not reach\n" +
  "the agent's rusage). machine: every busy CPU of this machine during the build, other work included.\n" +
  'objs=local: objects byte-identical to a local build in the same folder. diag: "=" when the compiler\n' +
  "diagnostics in the build's log are a local build's.";
