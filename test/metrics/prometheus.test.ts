/**
 * Metrics as Prometheus scrapes them: the gateway's `/metrics` and a builder's, after real jobs
 * (one cache miss then hit, one job that fails; a creation no builder can take, a builder killed
 * under a running job), parsed by a Prometheus text-format parser (parse-prometheus-text-format),
 * with Prometheus naming (base units, `_total` counters).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { kiln } from '../helpers/cli.ts';
import { api } from '../helpers/http.ts';
import { startFaultFarm, type FaultFarm } from '../faults/farm.ts';
import { until } from '../faults/scenario.ts';

interface Sample {
  value?: string;
  labels?: Record<string, string>;
  buckets?: Record<string, string>;
  count?: string;
  sum?: string;
}
interface MetricFamily {
  name: string;
  help: string;
  type: 'COUNTER' | 'GAUGE' | 'HISTOGRAM' | 'SUMMARY' | 'UNTYPED';
  metrics: Sample[];
}
const parse = createRequire(import.meta.url)('parse-prometheus-text-format') as (
  text: string,
) => MetricFamily[];

function family(all: MetricFamily[], name: string): MetricFamily {
  const f = all.find((x) => x.name === name);
  assert.ok(f, `metric ${name} is exported (have: ${all.map((x) => x.name).join(', ')})`);
  return f;
}
const total = (f: MetricFamily, labels: Record<string, string> = {}): number =>
  f.metrics
    .filter((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v))
    .reduce((n, m) => n + Number(m.value ?? m.count ?? 0), 0);

/** Prometheus naming: snake case with the kiln prefix, counters in _total, times in seconds. */
function checkNaming(all: MetricFamily[]): void {
  for (const f of all) {
    assert.match(f.name, /^[a-z_][a-z0-9_]*$/, f.name);
    assert.ok(f.help.length > 0, `${f.name} has HELP`);
    if (f.type === 'COUNTER') assert.match(f.name, /_total$/, `${f.name}: a counter ends in _total`);
    if (f.type === 'HISTOGRAM') assert.match(f.name, /_(seconds|bytes)$/, `${f.name}: a base unit`);
  }
}

describe('Prometheus metrics of the gateway and a builder', { timeout: 170_000 }, () => {
  let f: FaultFarm;
  let builderMetrics: string;
  before(async () => {
    f = await startFaultFarm({ builders: 0, slots: 2 });
    const b = await f.addBuilder({ metricsPort: 0 });
    builderMetrics = (await b.waitFor(/metrics on (http:\S+)/))[1]!;
  });
  after(async () => {
    await f?.stop();
  });

  it('counts jobs, times and cache lookups, and parses as Prometheus text', async () => {
    const o = { url: f.url, token: f.token };
    assert.equal((await kiln(['run', '--', 'sh', '-c', 'echo ok'], o)).code, 0);
    assert.equal((await kiln(['run', '--', 'false'], o)).code, 1);
    const cached = { argv: ['sh', '-c', 'echo cached'], cache: true, inlineResult: true };
    const first = await api(o, '/api/v1/jobs?wait=30', { method: 'POST', json: cached });
    assert.equal(first.status, 201, JSON.stringify(first.body));
    const second = await api(o, '/api/v1/jobs?wait=30', { method: 'POST', json: cached });
    assert.equal(second.status, 200, 'a cache hit');

    const gwRes = await fetch(`${f.url}/metrics`);
    assert.match(gwRes.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const gw = parse(await gwRes.text());
    checkNaming(gw);
    assert.equal(total(family(gw, 'kiln_jobs_created_total')), 3);
    assert.equal(total(family(gw, 'kiln_action_cache_lookups_total'), { result: 'hit' }), 1);
    assert.equal(total(family(gw, 'kiln_action_cache_lookups_total'), { result: 'miss' }), 1);
    assert.equal(family(gw, 'kiln_placement_seconds').type, 'HISTOGRAM');
    assert.equal(total(family(gw, 'kiln_placement_seconds')), 3);
    assert.equal(total(family(gw, 'kiln_builders_live')), 1);
    assert.equal(total(family(gw, 'kiln_slots_total')), 2);
    assert.ok(total(family(gw, 'kiln_http_requests_total'), { method: 'POST', status: '201' }) >= 3);

    // The builder records a job's result before the client sees it end: the counts are final.
    const bRes = await fetch(builderMetrics);
    const b = parse(await bRes.text());
    checkNaming(b);
    const jobs = family(b, 'kiln_builder_jobs_total');
    assert.equal(total(jobs, { state: 'succeeded' }), 2);
    assert.equal(total(jobs, { state: 'failed' }), 1);
    for (const h of [
      'kiln_builder_job_queue_wait_seconds',
      'kiln_builder_job_run_seconds',
      'kiln_builder_job_end_to_end_seconds',
    ]) {
      const fam = family(b, h);
      assert.equal(fam.type, 'HISTOGRAM');
      assert.equal(total(fam), 3, `${h} observed every job`);
      assert.ok(Number(fam.metrics[0]!.sum) > 0, `${h} has a positive sum`);
    }
    assert.equal(total(family(b, 'kiln_builder_sandbox_setup_seconds')), 3);
    assert.equal(total(family(b, 'kiln_builder_slots')), 2);
    assert.equal(total(family(b, 'kiln_builder_registrations_total')), 1);
    assert.ok(total(family(b, 'kiln_builder_process_resident_memory_bytes')) > 0);
    assert.ok(
      total(family(b, 'kiln_builder_store_bytes_total'), { direction: 'out' }) > 0,
      'the cache entry was written to the store',
    );
    assert.equal(total(family(b, 'kiln_builder_toolchain_cache_bytes')), 0, 'no toolchain was used');
    assert.equal(total(family(b, 'kiln_builder_blob_cache_bytes')), 0, 'no input file was sent');
  });

  it('counts placement failures, re-placements and a new builder', async () => {
    const o = { url: f.url, token: f.token };
    const scrape = async (): Promise<MetricFamily[]> => parse(await (await fetch(`${f.url}/metrics`)).text());
    const none = await api(o, '/api/v1/jobs', {
      method: 'POST',
      json: { argv: ['true'], platform: 'freebsd-amd64' },
    });
    assert.equal(none.status, 503, JSON.stringify(none.body));
    assert.equal(total(family(await scrape(), 'kiln_placement_failures_total'), { reason: 'no_builder' }), 1);

    // A builder killed under a running job: the sweep places the job again on the next builder.
    const made = await api(o, '/api/v1/jobs', { method: 'POST', json: { argv: ['sleep', '2'] } });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    const id = (made.body as { job: { id: string } }).job.id;
    while ((await f.conn.hget(f.keys.job(id), 'state')) !== 'running')
      await new Promise((r) => setTimeout(r, 50));
    f.builders[0]!.child.kill('SIGKILL');
    const next = await f.addBuilder({ metricsPort: 0 });
    const nextMetrics = (await next.waitFor(/metrics on (http:\S+)/))[1]!;
    const end = await api(o, `/api/v1/jobs/${id}?wait=60`);
    assert.equal((end.body as { state: string; attempt: number }).state, 'succeeded');
    assert.equal((end.body as { attempt: number }).attempt, 2);
    const gw = await scrape();
    assert.equal(total(family(gw, 'kiln_jobs_replaced_total')), 1);
    assert.equal(total(family(gw, 'kiln_builders_removed_total')), 1);
    // The builder counts a job once its result and the log's end are written: the client, woken
    // by the result, may ask first.
    const counted = async (): Promise<number> =>
      total(family(parse(await (await fetch(nextMetrics)).text()), 'kiln_builder_jobs_total'), {
        state: 'succeeded',
      });
    assert.equal(await until('the new builder counted the job', async () => (await counted()) || null), 1);
  });
});
