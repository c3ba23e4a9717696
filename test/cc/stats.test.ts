/** `kiln cc` stats: many concurrent writer processes, folding, reset, and the `kiln stats` command. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import {
  appendFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readStats, recordEvent, resetStats, statsFile } from '../../client/cc/stats.ts';
import { kiln } from '../helpers/cli.ts';

const STATS_TS = fileURLToPath(new URL('../../client/cc/stats.ts', import.meta.url));

/** Runs `n` writer processes at once, each recording `each` events of every kind. */
async function writers(
  dir: string,
  file: string,
  n: number,
  each: number,
  compactBytes: number,
): Promise<void> {
  const script = join(dir, 'writer.ts');
  writeFileSync(
    script,
    `import { recordEvent } from ${JSON.stringify(STATS_TS)};
const opts = { file: ${JSON.stringify(file)}, compactBytes: ${compactBytes} };
for (let i = 0; i < ${each}; i++) {
  const ok = [
    recordEvent('hit', undefined, opts),
    recordEvent('miss', undefined, opts),
    recordEvent('local', i % 2 ? 'linking (no -c)' : '-E only preprocesses', opts),
    recordEvent('fallback', i % 3 ? 'unreachable' : 'timeout', opts),
    recordEvent('error', undefined, opts),
  ];
  if (ok.includes(false)) { console.error('lost an event'); process.exit(1); }
}
`,
  );
  const codes = await Promise.all(
    Array.from({ length: n }, () => {
      const child = spawn(process.execPath, ['--import', 'tsx', script], {
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      return new Promise<number | null>((resolve) => child.on('close', resolve));
    }),
  );
  assert.deepEqual(codes, Array(n).fill(0));
}

describe('kiln cc stats', () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'kiln-cc-stats-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('finds its file from KILN_STATS_FILE, XDG_CACHE_HOME or HOME', () => {
    assert.equal(statsFile({ env: { KILN_STATS_FILE: '/x/s.json', XDG_CACHE_HOME: '/c' } }), '/x/s.json');
    assert.equal(statsFile({ env: { XDG_CACHE_HOME: '/c', HOME: '/h' } }), '/c/kiln/stats.json');
    assert.equal(statsFile({ env: { HOME: '/h' } }), '/h/.cache/kiln/stats.json');
    assert.equal(statsFile({ file: '/f.json', env: { KILN_STATS_FILE: '/x' } }), '/f.json');
  });

  it('nothing recorded yet: zeros, and nothing created', () => {
    const file = join(dir, 'none', 'stats.json');
    const s = readStats({ file });
    assert.equal(s.compiles, 0);
    assert.deepEqual(s.localReasons, {});
    assert.equal(existsSync(join(dir, 'none')), false);
  });

  it('counts each kind and groups reasons', () => {
    const opts = { file: join(dir, 'basic', 'stats.json') };
    assert.equal(recordEvent('hit', undefined, opts), true);
    recordEvent('hit', undefined, opts);
    recordEvent('miss', undefined, opts);
    recordEvent('local', 'linking (no -c)', opts);
    recordEvent('local', 'linking (no -c)', opts);
    recordEvent('local', '-S writes assembly', opts);
    recordEvent('fallback', 'no capacity', opts);
    recordEvent('keep', undefined, opts);
    recordEvent('error', undefined, opts);
    const s = readStats(opts);
    assert.deepEqual(
      { ...s, file: undefined },
      {
        compiles: 8,
        cacheHits: 2,
        cacheMisses: 1,
        remote: 3,
        local: 3,
        keepHits: 1,
        fallbacks: 1,
        errors: 1,
        localReasons: { 'linking (no -c)': 2, '-S writes assembly': 1 },
        fallbackReasons: { 'no capacity': 1 },
        since: null,
        file: undefined,
      },
    );
  });

  it('concurrent writer processes lose no event, while the events file is folded again and again', async () => {
    const file = join(dir, 'many', 'stats.json');
    const n = 6;
    const each = 100;
    await writers(dir, file, n, each, 2000);
    const s = readStats({ file, graceMs: 0 });
    const summary = JSON.parse(readFileSync(file, 'utf8')) as { folded: string[] };
    assert.ok(summary.folded.length > 10, `the events file was rotated ${summary.folded.length} times`);
    const total = n * each;
    assert.equal(s.cacheHits, total);
    assert.equal(s.cacheMisses, total);
    assert.equal(s.local, total);
    assert.equal(s.fallbacks, total);
    assert.equal(s.errors, total);
    assert.equal(s.compiles, 4 * total);
    assert.deepEqual(s.localReasons, { 'linking (no -c)': total / 2, '-E only preprocesses': total / 2 });
    const timeouts = n * Math.ceil(each / 3); // i % 3 === 0
    assert.deepEqual(s.fallbackReasons, { unreachable: total - timeouts, timeout: timeouts });
    // Everything was folded into the summary: no events or rotated files or lock are left.
    assert.deepEqual(readdirSync(join(dir, 'many')), ['stats.json']);
    assert.equal(readStats({ file }).compiles, 4 * total, 'reading again counts the same');
  });

  it('a recently rotated file is counted but left for later', () => {
    const file = join(dir, 'grace', 'stats.json');
    recordEvent('miss', undefined, { file });
    assert.equal(readStats({ file, graceMs: 60_000 }).cacheMisses, 1);
    assert.equal(readdirSync(join(dir, 'grace')).filter((f) => f.startsWith('stats.json.events.')).length, 1);
    recordEvent('miss', undefined, { file });
    assert.equal(readStats({ file, graceMs: 60_000 }).cacheMisses, 2);
    assert.equal(readStats({ file, graceMs: 0 }).cacheMisses, 2);
    assert.deepEqual(readdirSync(join(dir, 'grace')), ['stats.json']);
  });

  it('skips a torn line and an unknown kind', () => {
    const file = join(dir, 'torn', 'stats.json');
    recordEvent('hit', undefined, { file });
    appendFileSync(file + '.events', '{"t":1,"k":"hi');
    appendFileSync(file + '.events', '\n{"t":1,"k":"bogus"}\n');
    recordEvent('hit', undefined, { file });
    assert.equal(readStats({ file }).cacheHits, 2);
    assert.equal(readStats({ file }).compiles, 2);
  });

  it('breaks a stale lock left by a dead process', () => {
    const file = join(dir, 'stale', 'stats.json');
    recordEvent('hit', undefined, { file });
    writeFileSync(file + '.lock', '99999999');
    const old = new Date(Date.now() - 60_000);
    utimesSync(file + '.lock', old, old);
    assert.equal(readStats({ file, graceMs: 0 }).cacheHits, 1);
    assert.deepEqual(readdirSync(join(dir, 'stale')), ['stats.json']);
  });

  it('reads without folding while another process holds a fresh lock', () => {
    const file = join(dir, 'busy', 'stats.json');
    recordEvent('hit', undefined, { file });
    writeFileSync(file + '.lock', '1');
    assert.equal(readStats({ file, graceMs: 0, lockWaitMs: 50 }).cacheHits, 1);
    assert.ok(existsSync(file + '.events'), 'nothing was folded');
    rmSync(file + '.lock');
  });

  it('reset zeroes everything and remembers when', () => {
    const file = join(dir, 'reset', 'stats.json');
    recordEvent('hit', undefined, { file });
    recordEvent('local', 'x', { file });
    resetStats({ file });
    const s = readStats({ file });
    assert.equal(s.compiles, 0);
    assert.deepEqual(s.localReasons, {});
    assert.ok(s.since && Date.now() - Date.parse(s.since) < 60_000);
    recordEvent('miss', undefined, { file });
    assert.equal(readStats({ file }).cacheMisses, 1);
  });

  it('`kiln stats` prints a table, --json, and --reset', async () => {
    const file = join(dir, 'cmd', 'stats.json');
    const env = { KILN_STATS_FILE: file };
    for (let i = 0; i < 3; i++) recordEvent('hit', undefined, { env });
    recordEvent('miss', undefined, { env });
    for (let i = 0; i < 12; i++) recordEvent('local', `reason ${String(i).padStart(2, '0')}`, { env });
    recordEvent('local', 'reason 05', { env });
    recordEvent('fallback', 'unreachable', { env });
    recordEvent('keep', undefined, { env });
    recordEvent('keep', undefined, { env });

    const table = await kiln(['stats'], { env });
    assert.equal(table.code, 0, table.stderr);
    assert.equal(table.stderr, '');
    const text = table.stdout;
    assert.match(text, /^Compile requests +20$/m);
    assert.match(text, /^ {2}Cache hits +3$/m);
    assert.match(text, /^ {2}Cache misses \(compiled on the farm\) +1$/m);
    assert.match(text, /^ {2}Local \(not distributable\) +13$/m);
    assert.match(text, /^ {2}Local keep hits \(compiled here before\) +2$/m);
    assert.match(text, /^ {2}Fallbacks to local \(farm failed\) +1$/m);
    assert.match(text, /^Cache hit rate +75\.00 %$/m);
    assert.match(text, /^Compiled locally because\n {2}reason 05 +2\n {2}reason 00 +1$/m);
    assert.match(text, /^ {2}… and 2 more \(--json lists them all\)$/m);
    assert.match(text, /^Fell back to local because\n {2}unreachable +1$/m);
    assert.ok(text.includes(`Stats file  ${file}`));

    const json = await kiln(['stats', '--json'], { env });
    const parsed = JSON.parse(json.stdout) as { compiles: number; localReasons: Record<string, number> };
    assert.equal(parsed.compiles, 20);
    assert.equal(Object.keys(parsed.localReasons).length, 12);

    const reset = await kiln(['stats', '--reset'], { env });
    assert.deepEqual(reset, { code: 0, stdout: 'kiln stats: counters reset\n', stderr: '' });
    assert.equal(readStats({ env }).compiles, 0);
  });
});
