/** Percentiles and a printable row for benchmarks. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export interface Summary {
  n: number;
  p50: number;
  p99: number;
  mean: number;
  perSec: number;
}

/** Summarises latencies (ms) measured over `wallMs`. */
export function summarise(latencies: number[], wallMs: number): Summary {
  const s = [...latencies].sort((a, b) => a - b);
  return {
    n: s.length,
    p50: percentile(s, 50),
    p99: percentile(s, 99),
    mean: s.reduce((a, b) => a + b, 0) / Math.max(1, s.length),
    perSec: (s.length / wallMs) * 1000,
  };
}

export function row(label: string, s: Summary): string {
  const f = (n: number): string => n.toFixed(1).padStart(8);
  return `${label.padEnd(44)} ${String(s.n).padStart(5)} ${f(s.p50)} ${f(s.p99)} ${f(s.mean)} ${f(s.perSec)}`;
}

export const HEADER = `${'what'.padEnd(44)} ${'n'.padStart(5)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'mean ms'.padStart(8)} ${'per s'.padStart(8)}`;
