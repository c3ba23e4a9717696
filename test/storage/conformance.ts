/**
 * The blob-store conformance suite: every BlobStore implementation passes it.
 * Call `blobStoreConformance(name, make)` from a `*.test.ts` file; `make` builds a fresh store
 * (with whatever real server it needs) and `cleanup` removes all of it.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { BlobStore } from '../../storage/port.ts';

/** What the suite runs against. */
export interface StoreUnderTest {
  store: BlobStore;
  cleanup(): Promise<void>;
}

/** What the suite should expect beyond the port's contract. */
export interface ConformanceOptions {
  /**
   * The store is known to refuse a presigned PUT whose body does not match the sha256 (AWS S3).
   * When false or absent the suite detects it, and reports a store that accepts such a body as a
   * skipped test instead of a pass.
   * @default false
   */
  enforcesPresignedChecksum?: boolean;
}

const MiB = 1024 * 1024;
const T = { timeout: 60_000 };

/** Registers the suite's tests under `describe(name)`. */
export function blobStoreConformance(
  name: string,
  make: () => Promise<StoreUnderTest>,
  opts: ConformanceOptions = {},
): void {
  describe(`BlobStore conformance: ${name}`, () => {
    let sut: StoreUnderTest;
    let store: BlobStore;
    before(async () => {
      sut = await make();
      store = sut.store;
    });
    after(async () => {
      await sut?.cleanup();
    });

    it('has a kind', () => {
      assert.equal(typeof store.kind, 'string');
      assert.ok(store.kind.length > 0);
    });

    it('round-trips bytes exactly, all 256 byte values included', T, async () => {
      const data = pattern(256 * 5 + 3, 7);
      for (let i = 0; i < 256; i++) data[i] = i;
      await store.put('rt/blobs/bin', data);
      assert.deepEqual(await store.stat('rt/blobs/bin'), { size: data.byteLength });
      assert.deepEqual(await readAll(await store.get('rt/blobs/bin')), data);
    });

    it('round-trips an empty object', T, async () => {
      await store.put('rt/empty', new Uint8Array(0), 0);
      assert.deepEqual(await store.stat('rt/empty'), { size: 0 });
      assert.equal((await readAll(await store.get('rt/empty'))).byteLength, 0);
    });

    it('answers null for a missing key', T, async () => {
      assert.equal(await store.stat('missing/nothing-here'), null);
      assert.equal(await store.get('missing/nothing-here'), null);
    });

    it('replaces an object on overwrite', T, async () => {
      await store.put('ow/x', bytes('first version, longer than the second'));
      await store.put('ow/x', bytes('second'));
      assert.deepEqual(await store.stat('ow/x'), { size: 6 });
      assert.equal(text(await readAll(await store.get('ow/x'))), 'second');
    });

    it('deletes, and deleting a missing key is fine', T, async () => {
      await store.put('del/x', bytes('bye'));
      await store.delete('del/x');
      assert.equal(await store.stat('del/x'), null);
      assert.equal(await store.get('del/x'), null);
      await store.delete('del/x');
      await store.delete('del/never/existed');
    });

    it('lists keys and sizes under a prefix, and nothing outside it', T, async () => {
      const keys = { 'ls/a/1': 1, 'ls/a/2': 22, 'ls/a/sub/3': 333, 'ls/ab': 4, 'ls/b/1': 5, 'ls-x/a/1': 6 };
      for (const [k, n] of Object.entries(keys)) await store.put(k, pattern(n, n));
      assert.deepEqual(await listAll(store, 'ls/a/'), [
        { key: 'ls/a/1', size: 1 },
        { key: 'ls/a/2', size: 22 },
        { key: 'ls/a/sub/3', size: 333 },
      ]);
      // A prefix is a string prefix of keys, as in S3: `ls/a` also matches `ls/ab`.
      assert.deepEqual(
        (await listAll(store, 'ls/a')).map((e) => e.key),
        ['ls/a/1', 'ls/a/2', 'ls/a/sub/3', 'ls/ab'],
      );
      assert.deepEqual(
        (await listAll(store, 'ls/')).map((e) => e.key),
        ['ls/a/1', 'ls/a/2', 'ls/a/sub/3', 'ls/ab', 'ls/b/1'],
      );
      assert.deepEqual(await listAll(store, 'ls/none/'), []);
      await store.delete('ls/a/2');
      assert.deepEqual(
        (await listAll(store, 'ls/a/')).map((e) => e.key),
        ['ls/a/1', 'ls/a/sub/3'],
      );
    });

    it('stores a ~12 MiB stream of unknown length', T, async () => {
      const sizes = [1, MiB, 3 * MiB + 17, 64 * 1024, 5 * MiB - 1, 3 * MiB - 1];
      const chunks = sizes.map((n, i) => pattern(n, i + 1));
      const total = sizes.reduce((a, b) => a + b, 0);
      await store.put('stream/big', streamOf(chunks));
      assert.deepEqual(await store.stat('stream/big'), { size: total });
      const got = await readAll(await store.get('stream/big'));
      assert.equal(got.byteLength, total);
      assert.equal(sha256(got), sha256(concat(chunks)));
    });

    it('stores a small stream and a stream with a declared size', T, async () => {
      await store.put('stream/small', streamOf([bytes('ab'), bytes('cd')]));
      assert.equal(text(await readAll(await store.get('stream/small'))), 'abcd');
      await store.put('stream/sized', streamOf([bytes('abc'), bytes('def')]), 6);
      assert.deepEqual(await store.stat('stream/sized'), { size: 6 });
    });

    it('rejects invalid keys', T, async () => {
      for (const key of ['../x', '/abs', 'a//b', '', 'a/../b', 'a/', 'x\0y']) {
        await assert.rejects(store.put(key, bytes('x')), `put ${JSON.stringify(key)}`);
        await assert.rejects(store.get(key), `get ${JSON.stringify(key)}`);
        await assert.rejects(store.stat(key), `stat ${JSON.stringify(key)}`);
        await assert.rejects(store.delete(key), `delete ${JSON.stringify(key)}`);
      }
      await assert.rejects(listAll(store, '../'));
      await assert.rejects(listAll(store, '/abs'));
    });

    it('a streaming put that fails midway leaves no object visible', T, async () => {
      for (const [key, before] of [
        ['fail/early', 1],
        ['fail/late', 10],
      ] as const) {
        const boom = new Error(`source failed: ${key}`);
        const chunks = Array.from({ length: before }, (_, i) => pattern(MiB, i));
        await assert.rejects(
          store.put(key, streamOf(chunks, boom)),
          (err) => err === boom || isCausedBy(err, boom),
        );
        assert.equal(await store.stat(key), null);
        assert.equal(await store.get(key), null);
      }
      assert.deepEqual(await listAll(store, 'fail/'), []);
    });

    it('a failed overwrite keeps the previous object', T, async () => {
      await store.put('fail/keep', bytes('old'));
      const boom = new Error('source failed');
      await assert.rejects(
        store.put('fail/keep', streamOf([pattern(7 * MiB, 1), pattern(3 * MiB, 2)], boom)),
      );
      assert.equal(text(await readAll(await store.get('fail/keep'))), 'old');
    });

    it('refuses a body whose length differs from the declared size', T, async () => {
      await assert.rejects(store.put('size/short', bytes('abc'), 4));
      await assert.rejects(store.put('size/long', streamOf([bytes('abc'), bytes('def')]), 4));
      await assert.rejects(store.put('size/shortstream', streamOf([bytes('abc')]), 4));
      for (const key of ['size/short', 'size/long', 'size/shortstream'])
        assert.equal(await store.stat(key), null);
    });

    it('presigned PUT and GET work with a plain fetch', T, async (t) => {
      const data = pattern(100_000, 9);
      const put = await store.presignPut('presign/ok', {
        size: data.byteLength,
        sha256: sha256(data),
        ttlSec: 300,
      });
      if (put === null) {
        assert.equal(await store.presignGet('presign/ok', { ttlSec: 300 }), null);
        t.skip(`${store.kind} cannot presign: uploads go through the gateway`);
        return;
      }
      assert.equal(put.method, 'PUT');
      const res = await fetch(put.url, { method: 'PUT', headers: put.headers, body: data });
      const answer = await res.text();
      assert.ok(res.ok, `presigned PUT answered ${res.status}: ${answer}`);
      assert.deepEqual(await store.stat('presign/ok'), { size: data.byteLength });

      const get = await store.presignGet('presign/ok', { ttlSec: 300 });
      assert.ok(get);
      assert.equal(get.method, 'GET');
      const got = await fetch(get.url, { headers: get.headers });
      assert.equal(got.status, 200);
      assert.deepEqual(new Uint8Array(await got.arrayBuffer()), data);
    });

    it('a presigned PUT whose bytes do not match the sha256 is refused', T, async (t) => {
      const good = pattern(4096, 3);
      const bad = pattern(4096, 4);
      const put = await store.presignPut('presign/bad', {
        size: good.byteLength,
        sha256: sha256(good),
        ttlSec: 300,
      });
      if (put === null) {
        t.skip(`${store.kind} cannot presign`);
        return;
      }
      const res = await fetch(put.url, { method: 'PUT', headers: put.headers, body: bad });
      await res.arrayBuffer();
      if (res.ok && !opts.enforcesPresignedChecksum) {
        t.skip(
          `${store.kind}: this store accepted a body that does not match x-amz-checksum-sha256 (not enforced)`,
        );
        return;
      }
      assert.ok(!res.ok, `the store accepted a mismatching body (${res.status})`);
      assert.ok(res.status >= 400 && res.status < 500, `status ${res.status}`);
      assert.equal(await store.stat('presign/bad'), null);
    });
  });
}

/** Deterministic bytes that differ by `seed`, so reordered or misplaced data is caught. */
export function pattern(size: number, seed: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(size);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** A stream of these chunks, then (optionally) an error instead of the end. */
export function streamOf(chunks: Uint8Array[], failWith?: Error): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      const c = chunks[i++];
      if (c) controller.enqueue(c);
      else if (failWith) controller.error(failWith);
      else controller.close();
    },
  });
}

/** All bytes of a stream (which must not be null). */
export async function readAll(stream: ReadableStream<Uint8Array> | null): Promise<Uint8Array> {
  assert.ok(stream, 'expected a stream, got null');
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

async function listAll(store: BlobStore, prefix: string): Promise<{ key: string; size: number }[]> {
  const out: { key: string; size: number }[] = [];
  for await (const e of store.list(prefix)) out.push(e);
  return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

function isCausedBy(err: unknown, cause: Error): boolean {
  for (let e = err; e instanceof Error; e = e.cause) if (e === cause) return true;
  return false;
}

function bytes(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

function text(b: Uint8Array): string {
  return new TextDecoder().decode(b);
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}
