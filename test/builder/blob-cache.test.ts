/**
 * The builder's blob cache against a real local-directory store and real files, with small
 * limits: a blob is fetched once, past the limit idle blobs go least recently used first down to
 * the low-water mark, a blob a job is using is never evicted, and a restart keeps the files and
 * their order (a smaller limit at start evicts at once).
 */
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBlobCache } from '../../builders/core/blob-cache.ts';
import { blobKey } from '../../protocol/store-keys.ts';
import { createLocalDirStore } from '../../storage/local-dir.ts';
import type { BlobStore } from '../../storage/port.ts';

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

describe('blob cache', { timeout: 30_000 }, () => {
  let tmp: string;
  let dir: string;
  let store: BlobStore;
  const gets = new Map<string, number>();
  const logs: string[] = [];
  const blobs = new Map<string, string>(); // label → digest

  beforeEach(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'kiln-blobcache-'));
    dir = join(tmp, 'blobs');
    const inner = createLocalDirStore({ root: join(tmp, 'store') });
    gets.clear();
    logs.length = 0;
    store = {
      ...inner,
      kind: inner.kind,
      get(key) {
        gets.set(key, (gets.get(key) ?? 0) + 1);
        return inner.get(key);
      },
    } as BlobStore;
    for (const label of ['a', 'b', 'c', 'd']) {
      const bytes = new Uint8Array(Buffer.alloc(1000, label));
      await inner.put(blobKey('t', sha(bytes)), bytes);
      blobs.set(label, sha(bytes));
    }
  });
  afterEach(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  const digest = (label: string): string => blobs.get(label)!;
  const file = (label: string): string => join(dir, 't', digest(label));
  const read = (cache: ReturnType<typeof createBlobCache>, label: string): Promise<string> =>
    cache.use('t', digest(label), 1000, (p) => readFile(p, 'utf8'));
  /** Waits until `check` holds (removals run in the background; no timing is asserted). */
  const until = async (check: () => boolean): Promise<void> => {
    while (!check()) await new Promise((r) => setTimeout(r, 10));
  };

  it('fetches once, and past the limit evicts idle blobs least recently used first, to the low-water mark', async () => {
    const cache = createBlobCache(store, dir, {
      maxBytes: 2500,
      lowWaterBytes: 2000,
      log: (m) => logs.push(m),
    });
    assert.equal(await read(cache, 'a'), 'a'.repeat(1000));
    await read(cache, 'b');
    await read(cache, 'a'); // a is now more recent than b
    assert.equal(gets.get(blobKey('t', digest('a'))), 1, 'the second use is served from disk');
    assert.equal(cache.usedBytes(), 2000);
    await read(cache, 'c'); // 3000 > 2500: b goes, and 2000 is the low-water mark
    assert.equal(cache.usedBytes(), 2000);
    await until(() => !existsSync(file('b')));
    assert.ok(existsSync(file('a')) && existsSync(file('c')));
    assert.match(logs.join('\n'), /blob cache: evicted 1 blob\(s\), 1000 bytes; 2000 bytes kept/);
    await read(cache, 'b');
    assert.equal(gets.get(blobKey('t', digest('b'))), 2, 'needed again, it is fetched again');
  });

  it('never evicts a blob a job is using', async () => {
    const cache = createBlobCache(store, dir, { maxBytes: 1500, lowWaterBytes: 1000 });
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let reading: Promise<string> | undefined;
    const inUse = cache.use('t', digest('a'), 1000, async (p) => {
      await held;
      reading = readFile(p, 'utf8');
      return reading;
    });
    await until(() => cache.usedBytes() === 1000);
    await read(cache, 'b');
    await read(cache, 'c');
    assert.ok(existsSync(file('a')), 'a is in use: it stays whatever the limit');
    release();
    assert.equal(await inUse, 'a'.repeat(1000));
    await read(cache, 'd');
    assert.ok(cache.usedBytes() <= 1500);
    await until(() => !existsSync(file('a')) && !existsSync(file('b')));
  });

  it('keeps its blobs across a restart in their order of use; a smaller limit evicts at start', async () => {
    const first = createBlobCache(store, dir);
    for (const l of ['a', 'b', 'c']) await read(first, l);
    const past = (s: number): Date => new Date(Date.now() - s * 1000);
    await utimes(file('a'), past(30), past(30));
    await utimes(file('b'), past(10), past(10));
    await utimes(file('c'), past(20), past(20));
    const second = createBlobCache(store, dir, { maxBytes: 2000 });
    assert.equal(await read(second, 'b'), 'b'.repeat(1000));
    assert.equal(gets.get(blobKey('t', digest('b'))), 1, 'served from the files kept on disk');
    await until(() => !existsSync(file('a')));
    assert.ok(existsSync(file('b')) && existsSync(file('c')), 'the oldest use (a) went first');
  });

  it('refuses a blob whose size is not the declared one, before downloading it', async () => {
    const cache = createBlobCache(store, dir);
    await assert.rejects(
      cache.use('t', digest('a'), 1, async () => 'never'),
      { code: 'ERR_ARCHIVE_INVALID', message: /declares 1 bytes but its blob .* has 1000/ },
    );
    assert.equal(gets.get(blobKey('t', digest('a'))), undefined);
  });
});
