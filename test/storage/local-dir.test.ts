/** The local-directory blob store: the conformance suite on a temp folder, plus link and atomicity cases. */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, readdir, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { KilnError } from '../../protocol/errors.ts';
import { createLocalDirStore } from '../../storage/local-dir.ts';
import type { BlobStore } from '../../storage/port.ts';
import { blobStoreConformance, readAll, streamOf } from './conformance.ts';

blobStoreConformance('local-dir', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-local-store-'));
  // A root that does not exist yet: the store creates it on the first put.
  const store = createLocalDirStore({ root: join(dir, 'store') });
  return { store, cleanup: () => rm(dir, { recursive: true, force: true }) };
});

const isForbidden = (err: unknown) => err instanceof KilnError && err.code === 'ERR_FORBIDDEN';

describe('local-dir store specifics', () => {
  let dir: string;
  let root: string;
  let outside: string;
  let store: BlobStore;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kiln-local-store-'));
    root = join(dir, 'root');
    outside = join(dir, 'outside');
    await mkdir(root);
    await mkdir(outside);
    await writeFile(join(outside, 'secret'), 'top secret');
    // A folder link and a file link that point out of the store.
    await symlink(outside, join(root, 'evil'));
    await symlink(join(outside, 'secret'), join(root, 'leak'));
    store = createLocalDirStore({ root });
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('never reads through a link out of the store', async () => {
    await assert.rejects(store.get('evil/secret'), isForbidden);
    await assert.rejects(store.stat('evil/secret'), isForbidden);
    await assert.rejects(store.get('leak'), isForbidden);
    await assert.rejects(store.stat('leak'), isForbidden);
  });

  it('never writes through a link out of the store', async () => {
    await assert.rejects(store.put('evil/planted', new TextEncoder().encode('x')), isForbidden);
    await assert.rejects(store.put('evil/deeper/planted', streamOf([new Uint8Array(3)])), isForbidden);
    assert.deepEqual((await readdir(outside)).sort(), ['secret']);
  });

  it('never deletes through a link, and deleting a link leaves its target', async () => {
    await assert.rejects(store.delete('evil/secret'), isForbidden);
    await store.delete('leak');
    assert.equal(await readFile(join(outside, 'secret'), 'utf8'), 'top secret');
    await symlink(join(outside, 'secret'), join(root, 'leak'));
  });

  it('lists nothing through a link', async () => {
    await store.put('real/a', new Uint8Array(2));
    const keys: string[] = [];
    for await (const e of store.list('')) keys.push(e.key);
    assert.deepEqual(keys, ['real/a']);
    const viaLink: string[] = [];
    for await (const e of store.list('evil/')) viaLink.push(e.key);
    assert.deepEqual(viaLink, []);
  });

  it('refuses keys it cannot hold: `.` segments and temp-file names', async () => {
    for (const key of ['a/./b', '.', 'x/.kiln-tmp-0123456789abcdef']) {
      await assert.rejects(
        store.put(key, new Uint8Array(1)),
        (err) => err instanceof KilnError && err.code === 'ERR_VALIDATION',
      );
    }
  });

  it('leaves no temp files behind, after success or failure', async () => {
    await store.put('tmp/ok', streamOf([new Uint8Array(10), new Uint8Array(5)]));
    await assert.rejects(store.put('tmp/bad', streamOf([new Uint8Array(10)], new Error('source failed'))));
    await assert.rejects(store.put('tmp/short', new Uint8Array(3), 4));
    assert.deepEqual(await readdir(join(root, 'tmp')), ['ok']);
  });

  it('a reader of an object being replaced sees the old bytes or the new, whole', async () => {
    await store.put('atomic/x', new Uint8Array(256 * 1024).fill(1));
    const reading = await store.get('atomic/x');
    await store.put('atomic/x', new Uint8Array(100).fill(2));
    const old = await readAll(reading);
    assert.equal(old.byteLength, 256 * 1024);
    assert.ok(old.every((b) => b === 1));
    const now = await readAll(await store.get('atomic/x'));
    assert.deepEqual(now, new Uint8Array(100).fill(2));
  });

  it('treats a folder as no object, and refuses to put over one', async () => {
    await store.put('f/inner', new Uint8Array(1));
    assert.equal(await store.stat('f'), null);
    assert.equal(await store.get('f'), null);
    await assert.rejects(
      store.put('f', new Uint8Array(1)),
      (err) => err instanceof KilnError && err.code === 'ERR_CONFLICT',
    );
    await assert.rejects(
      store.put('f/inner/x', new Uint8Array(1)),
      (err) => err instanceof KilnError && err.code === 'ERR_CONFLICT',
    );
  });

  it('closes the file when a read ends or is cancelled', async (t) => {
    if (process.platform !== 'linux') return t.skip('counts descriptors through /proc/self/fd');
    await store.put('fd/x', new Uint8Array(1024 * 1024));
    const file = join(root, 'fd', 'x');
    const stream = await store.get('fd/x');
    assert.ok(stream);
    const reader = stream.getReader();
    assert.equal((await reader.read()).done, false);
    assert.equal(await openFdsTo(file), 1);
    await reader.cancel();
    assert.equal(await openFdsTo(file), 0);
    await readAll(await store.get('fd/x'));
    assert.equal(await openFdsTo(file), 0);
  });
});

/** How many of this process's descriptors are open on `file` (Linux). */
async function openFdsTo(file: string): Promise<number> {
  let n = 0;
  for (const fd of await readdir('/proc/self/fd')) {
    const target = await readlink(join('/proc/self/fd', fd)).catch(() => '');
    if (target === file) n++;
  }
  return n;
}
