/**
 * Declared outputs are resolved without following a link at any depth and without an existence
 * oracle, special files are reported, and the outputs tar is streamed to the store (never
 * buffered whole) with its size bounded by limits.outputBytes. Real file system, real local store.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { collectOutputs } from '../../builders/core/collect-outputs.ts';
import { readInlineResult } from '../../builders/core/inline-io.ts';
import { resolveOutput } from '../../builders/core/output-path.ts';
import { createLocalDirStore } from '../../storage/local-dir.ts';

async function jobDir(): Promise<{ base: string; root: string; secret: string }> {
  const base = await mkdtemp(join(tmpdir(), 'kiln-out-'));
  const root = join(base, 'root');
  await mkdir(root);
  const secret = join(base, 'secret');
  await mkdir(secret);
  await writeFile(join(secret, 'exists'), 'host file');
  return { base, root, secret };
}

test('a path through a link answers the same whether what lies beyond exists or not', async () => {
  const { base, root, secret } = await jobDir();
  try {
    await symlink('/', join(root, 'l'));
    await symlink(secret, join(root, 'deep'));
    await mkdir(join(root, 'd'));
    await symlink(secret, join(root, 'd', 'x'));
    const probes = [
      'l/etc/passwd',
      'l/no/such/file',
      'deep/exists',
      'deep/absent',
      'd/x/exists',
      'd/x/absent',
    ];
    const answers = await Promise.all(probes.map((p) => resolveOutput(root, p)));
    for (const [i, a] of answers.entries())
      assert.deepEqual(a, { kind: 'rejected', reason: 'is behind a symbolic link' }, probes[i]);
    const inline = await readInlineResult(root, probes, Buffer.alloc(0), Buffer.alloc(0));
    assert.deepEqual(inline?.missing, []);
    assert.deepEqual(
      inline?.rejected.map((r) => r.path),
      probes,
      'every probe is rejected alike, none reported missing',
    );
    const store = createLocalDirStore({ root: join(base, 'store') });
    const packed = await collectOutputs(store, root, probes, (d) => `blobs/t/${d}`);
    assert.deepEqual(packed.missing, []);
    assert.deepEqual(
      packed.rejected.map((r) => r.path),
      probes,
    );
  } finally {
    await rm(base, { recursive: true, force: true });
  }
});

test('declared FIFOs, sockets and links out are reported to the client, not dropped', async () => {
  const { base, root, secret } = await jobDir();
  const sock = createServer();
  try {
    execFileSync('mkfifo', [join(root, 'fifo')]);
    await new Promise<void>((r) => sock.listen(join(root, 'sock'), r));
    await symlink(secret, join(root, 'out-link'));
    await writeFile(join(root, 'ok'), 'fine');
    const paths = ['fifo', 'sock', 'out-link', 'ok', 'nothing'];
    const inline = await readInlineResult(root, ['fifo', 'sock', 'ok'], Buffer.alloc(0), Buffer.alloc(0));
    assert.deepEqual(inline?.rejected, [
      { path: 'fifo', reason: 'is a FIFO' },
      { path: 'sock', reason: 'is a socket' },
    ]);
    assert.equal(inline?.result.files.length, 1);
    const store = createLocalDirStore({ root: join(base, 'store') });
    const r = await collectOutputs(store, root, paths, (d) => `blobs/t/${d}`);
    assert.deepEqual(r.missing, ['nothing']);
    assert.deepEqual(
      r.rejected.map((x) => x.path).sort(),
      ['fifo', 'out-link', 'sock'],
      JSON.stringify(r.rejected),
    );
  } finally {
    sock.close();
    await rm(base, { recursive: true, force: true });
  }
});

test('the outputs tar streams to the store with its real digest, and over outputBytes is refused', async () => {
  const { base, root } = await jobDir();
  try {
    execFileSync('truncate', ['-s', '300M', join(root, 'big')]);
    const store = createLocalDirStore({ root: join(base, 'store') });
    const before = process.memoryUsage().rss;
    const r = await collectOutputs(store, root, ['big'], (d) => `blobs/t/${d}`);
    const grew = process.memoryUsage().rss - before;
    assert.ok(r.outputs && r.outputs.size > 300 * 1024 * 1024);
    assert.ok(grew < 150 * 1024 * 1024, `the builder grew by ${grew} bytes while packing 300 MiB`);
    const h = createHash('sha256');
    const body = (await store.get(`blobs/t/${r.outputs.digest}`))!;
    for await (const c of body as unknown as AsyncIterable<Uint8Array>) h.update(c);
    assert.equal(h.digest('hex'), r.outputs.digest, 'the stored tar hashes to the recorded digest');
    await assert.rejects(
      collectOutputs(store, root, ['big'], (d) => `blobs/u/${d}`, 1 << 20),
      (e: Error & { code?: string }) => e.code === 'ERR_TOO_LARGE' && /outputBytes/.test(e.message),
    );
    assert.equal(await store.stat('blobs/u/x'.replace('x', r.outputs.digest)), null, 'nothing stored');
  } finally {
    await rm(base, { recursive: true, force: true });
  }
});
