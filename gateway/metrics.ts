/** A few in-process counters rendered as Prometheus text (per gateway instance). */
export interface Metrics {
  inc(name: string, labels?: Record<string, string>): void;
  render(gauges: Record<string, number>): string;
}

export function createMetrics(): Metrics {
  const counters = new Map<string, number>();
  const keyOf = (name: string, labels?: Record<string, string>): string =>
    labels
      ? `${name}{${Object.entries(labels)
          .map(([k, v]) => `${k}="${v.replace(/["\\\n]/g, '_')}"`)
          .join(',')}}`
      : name;
  return {
    inc(name, labels) {
      const k = keyOf(name, labels);
      counters.set(k, (counters.get(k) ?? 0) + 1);
    },
    render(gauges) {
      const lines: string[] = [];
      const seen = new Set<string>();
      for (const [k, v] of [...counters.entries()].sort()) {
        const name = k.split('{')[0]!;
        if (!seen.has(name)) {
          lines.push(`# TYPE ${name} counter`);
          seen.add(name);
        }
        lines.push(`${k} ${v}`);
      }
      for (const [k, v] of Object.entries(gauges)) lines.push(`# TYPE ${k} gauge`, `${k} ${v}`);
      return lines.join('\n') + '\n';
    },
  };
}
