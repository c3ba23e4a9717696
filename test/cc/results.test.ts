/**
 * kiln cc's kept results (client/cc/results.ts): by gateway and action, bounded with the least
 * recently used going first (a read renews one), none kept with KILN_CC_RESULTS_MB=0.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { statSync, utimesSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ActionResultView } from '../../protocol/action.ts';
import { keepResult, readResult, resultFile, trimResults } from '../../client/cc/results.ts';

const G = 'http://127.0.0.1:8420';
const action = (n: number): string => n.toString(16).padStart(64, '0');
const result = (n: number): ActionResultView => ({
  exitCode: 0,
  stdout: '',
  stderr: '',
  files: [{ path: 'out.o', data: Buffer.alloc(3000, n).toString('base64'), executable: false }],
  missing: [],
  createdAt: new Date(0).toISOString(),
});

describe('kept results', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kiln-results-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('kept by gateway and action: another gateway or action finds nothing', () => {
    const d = join(dir, 'keys');
    keepResult(d, G, action(1), result(1), {});
    assert.deepEqual(readResult(d, G, action(1)), result(1));
    assert.equal(readResult(d, 'http://other:8420', action(1)), null);
    assert.equal(readResult(d, G, action(2)), null);
  });

  it('past the bound the least recently used go; a read renews a result', () => {
    const d = join(dir, 'lru');
    const old = Date.now() / 1000 - 3600;
    for (let n = 10; n < 20; n++) {
      keepResult(d, G, action(n), result(n), {});
      utimesSync(resultFile(d, G, action(n)), old + n, old + n); // 10 the oldest, 19 the newest
    }
    assert.ok(readResult(d, G, action(10)), 'read: now the most recently used');
    const size = statSync(resultFile(d, G, action(10))).size;
    trimResults(d, 5 * size); // over the bound: down to 80% of it, 4 results
    const left = Array.from({ length: 10 }, (_, i) => i + 10).filter((n) => readResult(d, G, action(n)));
    assert.deepEqual(left, [10, 17, 18, 19]);
    trimResults(d, 5 * size);
    assert.equal(
      Array.from({ length: 10 }, (_, i) => i + 10).filter((n) => readResult(d, G, action(n))).length,
      4,
      'under the bound: nothing goes',
    );
  });

  it('KILN_CC_RESULTS_MB=0 keeps none', () => {
    const d = join(dir, 'none');
    keepResult(d, G, action(3), result(3), { KILN_CC_RESULTS_MB: '0' });
    assert.equal(readResult(d, G, action(3)), null);
  });
});
