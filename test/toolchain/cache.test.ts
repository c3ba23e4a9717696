/**
 * The builder's toolchain cache against a real local-directory store: fetch once under
 * concurrency, digest checks, LRU eviction within a byte limit, leases, restarts.
 */
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { createToolchainCache } from '../../builders/core/toolchain-cache.ts';
import { KilnError } from '../../protocol/errors.ts';
import { toolchainKey } from '../../protocol/store-keys.ts';
import { createLocalDirStore } from '../../storage/local-dir.ts';
import type { BlobStore } from '../../storage/port.ts';

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** A gzip tar holding `bin/cc` (a script naming `label`) and `lib/blob` of `size` bytes. */
async function toolchain(
  label: string,
  size: number,
): Promise<{ bytes: Uint8Array; digest: string; unpacked: number }> {
  const cc = `#!/bin/sh\necho ${label}\n`;
  const pack = tar.pack();
  pack.entry({ name: 'bin/cc', mode: 0o755 }, cc);
  pack.entry({ name: 'lib/blob' }, Buffer.alloc(size, label));
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack as AsyncIterable<Buffer>) chunks.push(c);
  const bytes = new Uint8Array(gzipSync(Buffer.concat(chunks)));
  return { bytes, digest: sha(bytes), unpacked: cc.length + size };
}

/** The store, counting `get` calls per key. */
function counting(store: BlobStore): BlobStore & { gets: Map<string, number> } {
  const gets = new Map<string, number>();
  return {
    ...store,
    gets,
    async get(key) {
      gets.set(key, (gets.get(key) ?? 0) + 1);
      return store.get(key);
    },
  };
}

describe('toolchain cache', { timeout: 30_000 }, () => {
  let tmp: string;
  let store: ReturnType<typeof counting>;
  let dir: string;
  const logs: string[] = [];
  const log = (m: string): void => void logs.push(m);

  beforeEach(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'kiln-tccache-'));
    store = counting(createLocalDirStore({ root: join(tmp, 'store') }));
    dir = join(tmp, 'cache');
    logs.length = 0;
  });
  afterEach(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  async function publish(label: string, size = 1000): Promise<string> {
    const t = await toolchain(label, size);
    await store.put(toolchainKey(t.digest), t.bytes);
    return t.digest;
  }

  it('fetches a toolchain once for concurrent acquires and unpacks it', async () => {
    const d = await publish('gcc');
    const cache = await createToolchainCache({ store, dir, log });
    const leases = await Promise.all(Array.from({ length: 8 }, () => cache.acquire(d)));
    assert.equal(store.gets.get(toolchainKey(d)), 1);
    assert.equal(new Set(leases.map((l) => l.root)).size, 1);
    const root = leases[0]!.root;
    assert.equal(await readFile(join(root, 'bin', 'cc'), 'utf8'), '#!/bin/sh\necho gcc\n');
    assert.deepEqual(cache.warm(), [d]);
    assert.equal(cache.usedBytes(), '#!/bin/sh\necho gcc\n'.length + 1000);
    // A later acquire is a hit: no download.
    const again = await cache.acquire(d);
    assert.equal(again.root, root);
    assert.equal(store.gets.get(toolchainKey(d)), 1);
    for (const l of [...leases, again]) l.release();
    assert.deepEqual(
      (await readdir(dir)).filter((n) => n.startsWith('.')),
      [],
      'no temp folders left',
    );
  });

  it('refuses a toolchain corrupted in the store and caches nothing', async () => {
    const good = await toolchain('clang', 100);
    const evil = await toolchain('evil', 100);
    await store.put(toolchainKey(good.digest), evil.bytes);
    const cache = await createToolchainCache({ store, dir, log });
    const attempts = await Promise.allSettled([cache.acquire(good.digest), cache.acquire(good.digest)]);
    assert.equal(store.gets.get(toolchainKey(good.digest)), 1, 'one download for both');
    for (const a of attempts) {
      assert.equal(a.status, 'rejected');
      const err = (a as PromiseRejectedResult).reason as KilnError;
      assert.ok(err instanceof KilnError);
      assert.equal(err.code, 'ERR_DIGEST_MISMATCH');
      assert.match(err.message, new RegExp(`toolchain ${good.digest} is corrupt in the store`));
    }
    assert.deepEqual(cache.warm(), []);
    assert.deepEqual(await readdir(dir), [], 'nothing unpacked, no temp files');

    // Repaired in the store: the next acquire fetches again and succeeds.
    await store.put(toolchainKey(good.digest), good.bytes);
    const lease = await cache.acquire(good.digest);
    assert.equal(await readFile(join(lease.root, 'bin', 'cc'), 'utf8'), '#!/bin/sh\necho clang\n');
    assert.equal(store.gets.get(toolchainKey(good.digest)), 2);
    lease.release();
  });

  it('reports a toolchain missing from the store, and an unsafe archive', async () => {
    const cache = await createToolchainCache({ store, dir, log });
    const missing = sha(new Uint8Array([1, 2, 3]));
    await assert.rejects(cache.acquire(missing), { code: 'ERR_NOT_FOUND' });
    const pack = tar.pack();
    pack.entry({ name: '../escape' }, 'x');
    pack.finalize();
    const chunks: Buffer[] = [];
    for await (const c of pack as AsyncIterable<Buffer>) chunks.push(c);
    const bad = new Uint8Array(Buffer.concat(chunks));
    await store.put(toolchainKey(sha(bad)), bad);
    await assert.rejects(cache.acquire(sha(bad)), { code: 'ERR_ARCHIVE_INVALID' });
    await assert.rejects(cache.acquire('not-a-digest'), { code: 'ERR_VALIDATION' });
    assert.deepEqual(await readdir(dir), []);
    assert.ok(!existsSync(join(tmp, 'escape')));
  });

  it('evicts the least recently used toolchains past the limit', async () => {
    const [a, b, c] = [await publish('a'), await publish('b'), await publish('c')];
    // Each unpacks to ~1020 bytes: two fit in 2500, three do not.
    const cache = await createToolchainCache({ store, dir, maxBytes: 2500, log });
    (await cache.acquire(a)).release();
    (await cache.acquire(b)).release();
    (await cache.acquire(a)).release(); // a is now more recent than b
    assert.deepEqual(cache.warm(), [a, b]);
    const lc = await cache.acquire(c);
    lc.release();
    assert.deepEqual(cache.warm(), [c, a]);
    assert.ok(cache.usedBytes() <= 2500);
    // The evicted one's folder goes away (the removal runs in the background).
    await waitFor(async () => !existsSync(join(dir, b)));
    assert.ok(existsSync(join(dir, a, 'root', 'bin', 'cc')));
    // Needed again, it is fetched again.
    (await cache.acquire(b)).release();
    assert.equal(store.gets.get(toolchainKey(b)), 2);
    assert.equal(store.gets.get(toolchainKey(a)), 1);
    assert.deepEqual(cache.warm(), [b, c], 'a was used before c: a goes');
    await waitFor(async () => !existsSync(join(dir, a)));
  });

  it('evicts down to the low-water mark once past the limit', async () => {
    const [a, b, c] = [await publish('a'), await publish('b'), await publish('c')];
    const cache = await createToolchainCache({ store, dir, maxBytes: 2500, lowWaterBytes: 1100, log });
    (await cache.acquire(a)).release();
    (await cache.acquire(b)).release();
    assert.deepEqual(cache.warm(), [b, a], 'within the limit nothing goes');
    (await cache.acquire(c)).release(); // ~3060 > 2500: down to 1100, so both a and b go
    assert.deepEqual(cache.warm(), [c]);
    assert.ok(cache.usedBytes() <= 1100);
    await waitFor(async () => !existsSync(join(dir, a)) && !existsSync(join(dir, b)));
  });

  it('never evicts a toolchain in use, even over the limit', async () => {
    const [a, b, c] = [await publish('a'), await publish('b'), await publish('c')];
    const cache = await createToolchainCache({ store, dir, maxBytes: 2500, log });
    const la = await cache.acquire(a);
    const lb = await cache.acquire(b);
    const lc = await cache.acquire(c); // 3 x ~1020 bytes, all held
    assert.deepEqual(new Set(cache.warm()), new Set([a, b, c]));
    for (const l of [la, lb, lc]) assert.ok(existsSync(join(l.root, 'bin', 'cc')));
    lb.release(); // the only one not in use: it goes
    assert.deepEqual(new Set(cache.warm()), new Set([a, c]));
    await waitFor(async () => !existsSync(join(dir, b)));
    assert.ok(existsSync(join(la.root, 'lib', 'blob')));
    assert.ok(existsSync(join(lc.root, 'lib', 'blob')));
    lb.release(); // a second release of the same lease changes nothing
    assert.deepEqual(new Set(cache.warm()), new Set([a, c]));
    la.release();
    lc.release();
    assert.ok(cache.usedBytes() <= 2500);
    assert.equal(cache.warm().length, 2);
  });

  it('keeps its toolchains across a restart and clears interrupted work', async () => {
    const [a, b] = [await publish('a'), await publish('b')];
    const first = await createToolchainCache({ store, dir, log });
    (await first.acquire(a)).release();
    await new Promise((r) => setTimeout(r, 20)); // distinct modification times for the LRU order
    (await first.acquire(b)).release();
    // Leftovers of a crash: a half download, a half eviction, a folder without its metadata.
    await mkdir(join(dir, '.tmp-0123456789abcdef', 'root'), { recursive: true });
    await mkdir(join(dir, '.trash-0123456789abcdef'), { recursive: true });
    const half = sha(new Uint8Array([9]));
    await mkdir(join(dir, half, 'root'), { recursive: true });
    await writeFile(join(dir, 'README'), 'not the cache: left alone');

    const second = await createToolchainCache({ store, dir, log });
    assert.deepEqual(second.warm(), [b, a]);
    assert.deepEqual((await readdir(dir)).sort(), [a, b, 'README'].sort());
    const lease = await second.acquire(a);
    assert.equal(await readFile(join(lease.root, 'bin', 'cc'), 'utf8'), '#!/bin/sh\necho a\n');
    assert.equal(store.gets.get(toolchainKey(a)), 1, 'served from the cache kept on disk');
    lease.release();

    // A smaller limit at start evicts the least recently used at once.
    const third = await createToolchainCache({ store, dir, maxBytes: 1500, log });
    assert.deepEqual(third.warm(), [a]);
    await waitFor(async () => !existsSync(join(dir, b)));
  });
});

/** Waits until `check` holds (bounded by the test's timeout; no timing is asserted). */
async function waitFor(check: () => Promise<boolean>): Promise<void> {
  while (!(await check())) await new Promise((r) => setTimeout(r, 10));
}
