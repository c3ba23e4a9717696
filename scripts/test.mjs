#!/usr/bin/env node
// Runs every test file (test/**/*.test.ts) with node:test through tsx. Extra arguments filter
// the files by substring: `npm test -- e2e auth`. A whole run then runs the Redis Cluster
// suite (below) once more on a 3-master cluster; `--cluster` runs only that. The output ends with
// each failed test and the first lines of its error (./test-failures.mjs): CI shows the end.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';

function walk(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(dir, e.name)) : e.name.endsWith('.test.ts') ? [join(dir, e.name)] : [],
  );
}

// The API suite (every file of test/api), both farm-port conformance suites, the registry and
// one e2e file, run again with KILN_TEST_REDIS=cluster: every farm helper then starts a Redis
// Cluster of three masters on loopback instead of one redis-server (test/helpers/redis-mode.ts).
const CLUSTER_SUITE = [
  'test/api/',
  'test/redis/gateway-port.test.ts',
  'test/redis/builder-port.test.ts',
  'test/redis/registry.test.ts',
  'test/e2e/cli.test.ts',
];

const args = process.argv.slice(2);
const clusterOnly = args.includes('--cluster');
const filters = args.filter((a) => a !== '--cluster');
const all = walk('test').sort();
const files = clusterOnly
  ? []
  : all.filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)));
const clusterFiles =
  clusterOnly || filters.length === 0 ? all.filter((f) => CLUSTER_SUITE.some((x) => f.includes(x))) : [];
if (files.length === 0 && clusterFiles.length === 0) {
  console.error('test: no test files match');
  process.exit(1);
}
// The fault scenarios (test/faults/) append one row each; the table is printed after the run.
const FAULT_ROWS = 'test-artifacts/fault-rows.jsonl';
rmSync(FAULT_ROWS, { force: true });
// So does the hostile-tenant suite (test/hostile/): one row per attack, printed by its own code.
const HOSTILE_ROWS = 'test-artifacts/hostile-rows.jsonl';
rmSync(HOSTILE_ROWS, { force: true });
function printHostileTable() {
  if (!existsSync(HOSTILE_ROWS)) return;
  spawnSync(process.execPath, ['--import', 'tsx', 'test/hostile/print-table.ts'], { stdio: 'inherit' });
}

function printFaultTable() {
  if (!existsSync(FAULT_ROWS)) return;
  const rows = readFileSync(FAULT_ROWS, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
  const head = [
    'scenario',
    'submitted',
    'completed once, right output',
    'failed, clear error',
    'lost',
    'duplicated',
  ];
  const body = rows.map((r) =>
    [r.scenario, r.submitted, r.completedOnce, r.failedClearly, r.lost, r.duplicated].map(String),
  );
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells) => cells.map((c, i) => c.padEnd(widths[i])).join(' | ');
  console.log(
    ['', 'fault suite', line(head), widths.map((w) => '-'.repeat(w)).join('-+-'), ...body.map(line), ''].join(
      '\n',
    ),
  );
}

// A file may ask for a longer limit with `@timeout <ms>` in its header comment (the provisioning
// e2e: debootstrap the first time); those run after the others, each with its own limit.
// Every run also writes its failed tests to FAILURES (./test-failures.mjs), printed at the very end.
const FAILURES = 'test-artifacts/failures';
rmSync(FAILURES, { recursive: true, force: true });
mkdirSync(FAILURES, { recursive: true });
let runs = 0;
function printFailures() {
  const rows = readdirSync(FAILURES)
    .sort()
    .flatMap((f) =>
      readFileSync(join(FAILURES, f), 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => ({ ...JSON.parse(l), cluster: f.includes('cluster') })),
    );
  if (rows.length === 0) return;
  const out = ['', `failed (${rows.length}), each with the first lines of its error:`];
  for (const r of rows) {
    const where =
      [relative(process.cwd(), r.file), ...r.names].join(' › ') + (r.cluster ? ' [Redis Cluster]' : '');
    if (r.failureType === 'cancelledByParent') {
      out.push(`✗ ${where}: cancelled (its suite failed or timed out first)`);
      continue;
    }
    out.push(`✗ ${where}${r.at ? `\n    at ${r.at.replace(`${process.cwd()}/`, '')}` : ''}`);
    out.push(
      ...[r.message, ...r.stderr]
        .join('\n')
        .split('\n')
        .map((l) => `    ${l}`),
    );
  }
  console.log(out.join('\n') + '\n');
}

const limitOf = (f) => Number(/@timeout (\d+)/.exec(readFileSync(f, 'utf8').slice(0, 2000))?.[1] ?? 180000);
const groups = new Map();
for (const f of files) groups.set(limitOf(f), [...(groups.get(limitOf(f)) ?? []), f]);
const runFiles = (limit, group, env = process.env) =>
  spawnSync(
    process.execPath,
    [
      '--openssl-legacy-provider',
      '--import',
      'tsx',
      '--test',
      '--test-concurrency=2',
      `--test-timeout=${limit}`,
      `--test-reporter=${process.stdout.isTTY ? 'spec' : 'tap'}`,
      '--test-reporter-destination=stdout',
      `--test-reporter=${new URL('./test-failures.mjs', import.meta.url).href}`,
      `--test-reporter-destination=${join(FAILURES, `${++runs}-${env.KILN_TEST_REDIS ?? 'one'}.jsonl`)}`,
      ...group,
    ],
    { stdio: 'inherit', env },
  ).status ?? 1;
let status = 0;
for (const [limit, group] of [...groups].sort((a, b) => a[0] - b[0])) status ||= runFiles(limit, group);
if (clusterFiles.length > 0) {
  console.log(`\nRedis Cluster suite (3 masters on loopback): ${clusterFiles.join(' ')}\n`);
  const clusterStatus = runFiles(180000, clusterFiles, { ...process.env, KILN_TEST_REDIS: 'cluster' });
  console.log(`\nRedis Cluster suite: ${clusterStatus === 0 ? 'passed' : 'FAILED'}\n`);
  status ||= clusterStatus;
}
printFaultTable();
printHostileTable();
printFailures();
process.exit(status);
