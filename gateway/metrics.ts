/**
 * The gateway's metrics: counters, gauges and histograms with labels, rendered as Prometheus text
 * (version 0.0.4) with HELP and TYPE lines. A small registry of its own because the gateway is
 * runtime-neutral (it also runs on Deno and edge hosts, compiled without Node types) and
 * prom-client needs Node built-ins (cluster, v8, perf_hooks); the builders, which are Node, use
 * prom-client. Values are per gateway process, except the farm-wide gauges read from Redis at
 * scrape time.
 */

type Labels = Record<string, string>;

interface Family {
  help: string;
  type: 'counter' | 'gauge' | 'histogram';
  buckets?: number[];
  /** Label set (as rendered) → value, or bucket counts + sum + count for histograms. */
  series: Map<string, { labels: Labels; value: number; counts?: number[]; sum?: number }>;
}

/** Default histogram buckets, seconds: from 5 ms to 10 minutes. */
export const SECONDS_BUCKETS = [0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 600];

export interface Metrics {
  /** Adds `by` (default 1) to a counter. */
  inc(name: string, labels?: Labels, by?: number): void;
  /** Records one observation of a histogram. */
  observe(name: string, value: number, labels?: Labels): void;
  /** Prometheus text of every family, plus `gauges` (farm-wide values read at scrape time). */
  render(gauges?: Record<string, { help: string; value: number }>): string;
  /** A counter's current value (the dashboard's cache-hit series). */
  value(name: string, labels?: Labels): number;
}

const escape = (v: string): string => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
const labelText = (l: Labels): string => {
  const keys = Object.keys(l).sort();
  return keys.length ? `{${keys.map((k) => `${k}="${escape(l[k]!)}"`).join(',')}}` : '';
};

/** The families the gateway records; anything else is a programming error. */
const FAMILIES: Record<string, Omit<Family, 'series'>> = {
  kiln_http_requests_total: { help: 'HTTP requests answered, by method and status.', type: 'counter' },
  kiln_jobs_created_total: { help: 'Jobs created (placed on a builder).', type: 'counter' },
  kiln_action_cache_lookups_total: {
    help: 'Action-cache lookups of cacheable jobs, by result (hit, miss).',
    type: 'counter',
  },
  kiln_placement_failures_total: {
    help: 'Job creations refused for want of a builder, by reason.',
    type: 'counter',
  },
  kiln_placement_seconds: {
    help: 'Time to reserve a slot for a new job (including waits for capacity).',
    type: 'histogram',
    buckets: SECONDS_BUCKETS,
  },
  kiln_jobs_replaced_total: { help: 'Jobs placed again after their builder was lost.', type: 'counter' },
  kiln_jobs_lost_total: {
    help: 'Jobs failed because their builder was lost and no attempt was left.',
    type: 'counter',
  },
  kiln_builders_removed_total: {
    help: 'Builders removed by sweeps after their lease expired.',
    type: 'counter',
  },
};

export function createMetrics(): Metrics {
  const families = new Map<string, Family>();
  const family = (name: string): Family => {
    let f = families.get(name);
    if (!f) {
      const spec = FAMILIES[name];
      if (!spec) throw new Error(`unknown metric ${name}`);
      f = { ...spec, series: new Map() };
      families.set(name, f);
    }
    return f;
  };
  const series = (f: Family, labels: Labels) => {
    const key = labelText(labels);
    let s = f.series.get(key);
    if (!s) {
      s = { labels, value: 0, ...(f.buckets ? { counts: f.buckets.map(() => 0), sum: 0 } : {}) };
      f.series.set(key, s);
    }
    return s;
  };
  return {
    inc(name, labels = {}, by = 1) {
      series(family(name), labels).value += by;
    },
    observe(name, value, labels = {}) {
      const f = family(name);
      const s = series(f, labels);
      f.buckets!.forEach((b, i) => {
        if (value <= b) s.counts![i]!++;
      });
      s.sum! += value;
      s.value++;
    },
    value(name, labels = {}) {
      return families.get(name)?.series.get(labelText(labels))?.value ?? 0;
    },
    render(gauges = {}) {
      const out: string[] = [];
      for (const [name, f] of [...families].sort(([a], [b]) => a.localeCompare(b))) {
        out.push(`# HELP ${name} ${f.help}`, `# TYPE ${name} ${f.type}`);
        for (const s of f.series.values()) {
          if (f.type !== 'histogram') {
            out.push(`${name}${labelText(s.labels)} ${s.value}`);
            continue;
          }
          f.buckets!.forEach((b, i) =>
            out.push(`${name}_bucket${labelText({ ...s.labels, le: String(b) })} ${s.counts![i]}`),
          );
          out.push(`${name}_bucket${labelText({ ...s.labels, le: '+Inf' })} ${s.value}`);
          out.push(
            `${name}_sum${labelText(s.labels)} ${s.sum}`,
            `${name}_count${labelText(s.labels)} ${s.value}`,
          );
        }
      }
      for (const [name, g] of Object.entries(gauges))
        out.push(`# HELP ${name} ${g.help}`, `# TYPE ${name} gauge`, `${name} ${g.value}`);
      return out.join('\n') + '\n';
    },
  };
}
