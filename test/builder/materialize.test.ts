import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readlink, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkEntries, createBlobCache, materializeTree } from '../../builders/core/materialize.ts';
import type { ManifestEntry } from '../../protocol/manifest.ts';
import { blobKey } from '../../protocol/store-keys.ts';
import { createLocalDirStore } from '../../storage/local-dir.ts';
import type { BlobStore } from '../../storage/port.ts';

const sha = (b: Uint8Array | string): string => createHash('sha256').update(b).digest('hex');
const file = (path: string, body = 'x'): ManifestEntry => ({
  type: 'file',
  path,
  digest: sha(body),
  size: body.length,
  executable: false,
});

test('tree rules refuse escapes, links out, paths through links or files, duplicates', () => {
  const bad: [ManifestEntry[], RegExp][] = [
    [[file('../x')], /\.\./],
    [[file('/etc/passwd')], /absolute|leading/i],
    [[file('a\\b')], /backslash/i],
    [[{ type: 'symlink', path: 'l', target: '/etc' }], /link/],
    [[{ type: 'symlink', path: 'l', target: '../..' }], /outside/],
    [[{ type: 'symlink', path: 'l', target: 'd' }, file('l/x')], /goes through a symlink/],
    [[file('f'), file('f/x')], /goes through a file/],
    [[file('f'), file('f')], /twice/],
  ];
  for (const [entries, why] of bad) {
    assert.throws(
      () => checkEntries(entries),
      (err: Error & { code?: string }) => err.code === 'ERR_ARCHIVE_INVALID' && why.test(err.message),
      JSON.stringify(entries),
    );
  }
  assert.equal(
    checkEntries([file('./a//b.c'), { type: 'symlink', path: 'a/l', target: '../a/b.c' }])[0]!.path,
    'a/b.c',
  );
});

test('materialises a tree once per host, verifying digests', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-mat-'));
  try {
    const inner = createLocalDirStore({ root: join(dir, 'store') });
    let gets = 0;
    const store: BlobStore = { ...inner, kind: inner.kind, get: (k) => (gets++, inner.get(k)) } as BlobStore;
    const body = 'int main(void){return 0;}\n';
    await inner.put(blobKey('t', sha(body)), new TextEncoder().encode(body));
    const manifest = JSON.stringify({
      version: 1,
      entries: [
        { type: 'dir', path: 'src' },
        { ...file('src/a.c', body), executable: true },
        { type: 'symlink', path: 'main.c', target: 'src/a.c' },
      ],
    });
    await inner.put(blobKey('t', sha(manifest)), new TextEncoder().encode(manifest));
    const cache = createBlobCache(store, join(dir, 'cache'));
    const ref = { digest: sha(manifest), size: manifest.length };
    await materializeTree(store, cache, 't', ref, join(dir, 'job1'));
    await materializeTree(store, cache, 't', ref, join(dir, 'job2'));
    assert.equal(await readFile(join(dir, 'job2', 'src', 'a.c'), 'utf8'), body);
    assert.equal((await stat(join(dir, 'job2', 'src', 'a.c'))).mode & 0o777, 0o755);
    assert.equal(await readlink(join(dir, 'job1', 'main.c')), 'src/a.c');
    assert.equal(gets, 3, 'two manifest reads and ONE file fetch for two jobs');

    // Another tenant cannot use this tenant's blobs, and a corrupt blob is refused.
    await assert.rejects(materializeTree(store, cache, 'other', ref, join(dir, 'job3')), {
      code: 'ERR_BLOBS_MISSING',
    });
    const evil = 'tampered';
    const m2 = JSON.stringify({ version: 1, entries: [file('b.c', 'original')] });
    await inner.put(blobKey('t', sha('original')), new TextEncoder().encode(evil));
    await inner.put(blobKey('t', sha(m2)), new TextEncoder().encode(m2));
    // The corrupt copy is removed from the store and reported missing, so the client uploads it again.
    await assert.rejects(
      materializeTree(store, cache, 't', { digest: sha(m2), size: m2.length }, join(dir, 'job4')),
      { code: 'ERR_BLOBS_MISSING', message: /corrupt/ },
    );
    assert.equal(await inner.stat(blobKey('t', sha('original'))), null, 'the corrupt blob is gone');
    assert.equal(await stat(join(dir, 'job4')).catch(() => null), null, 'nothing left behind');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a manifest that under-declares a file size is refused before the blob is fetched', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-mat-'));
  try {
    const inner = createLocalDirStore({ root: join(dir, 'store') });
    let gets = 0;
    const store: BlobStore = { ...inner, kind: inner.kind, get: (k) => (gets++, inner.get(k)) } as BlobStore;
    const big = new Uint8Array(1 << 20).fill(7);
    await inner.put(blobKey('t', sha(big)), big);
    const entries = Array.from({ length: 50 }, (_, i) => ({
      type: 'file',
      path: `f${i}`,
      digest: sha(big),
      size: 1,
      executable: false,
    }));
    const manifest = JSON.stringify({ version: 1, entries });
    await inner.put(blobKey('t', sha(manifest)), new TextEncoder().encode(manifest));
    const cache = createBlobCache(store, join(dir, 'cache'));
    const ref = { digest: sha(manifest), size: manifest.length };
    await assert.rejects(
      materializeTree(store, cache, 't', ref, join(dir, 'job')),
      (e: Error & { code?: string }) => {
        assert.equal(e.code, 'ERR_ARCHIVE_INVALID');
        assert.match(e.message, /declares 1 bytes but its blob .* has 1048576/);
        return true;
      },
    );
    assert.equal(gets, 1, 'only the manifest was read: the 1 MiB blob was never downloaded');
    assert.equal(await stat(join(dir, 'job')).catch(() => null), null, 'nothing left behind');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
