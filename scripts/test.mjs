#!/usr/bin/env node
// Runs every test file (test/**/*.test.ts) with node:test through tsx. Extra arguments filter
// the files by substring: `npm test -- e2e auth`.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

function walk(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(dir, e.name)) : e.name.endsWith('.test.ts') ? [join(dir, e.name)] : [],
  );
}

const filters = process.argv.slice(2);
const files = walk('test')
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort();
if (files.length === 0) {
  console.error('test: no test files match');
  process.exit(1);
}
const r = spawnSync(
  process.execPath,
  [
    '--openssl-legacy-provider',
    '--import',
    'tsx',
    '--test',
    '--test-concurrency=2',
    '--test-timeout=180000',
    ...files,
  ],
  { stdio: 'inherit' },
);
process.exit(r.status ?? 1);
