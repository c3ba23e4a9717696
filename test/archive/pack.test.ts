import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  appendFile,
  chmod,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rm,
  symlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import { extractTar } from '../../archive/extract.ts';
import { packTree, packTreeToBuffer } from '../../archive/pack.ts';
import { KilnError } from '../../protocol/errors.ts';

let tmp: string;
let src: string;
let outside: string;
let counter = 0;
const fresh = (): string => join(tmp, `out-${++counter}`);

/** Every path below `dir` with what identifies it: kind, x bit, contents or link target. */
async function describeTree(dir: string, prefix = ''): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of (await readdir(dir)).sort()) {
    const rel = prefix + name;
    const abs = join(dir, name);
    const st = await lstat(abs);
    if (st.isSymbolicLink()) out[rel] = `link -> ${await readlink(abs)}`;
    else if (st.isDirectory()) Object.assign(out, { [rel]: 'dir' }, await describeTree(abs, `${rel}/`));
    else if (!st.isFile()) out[rel] = 'special';
    else out[rel] = `${(st.mode & 0o111 ? 'x ' : '- ') + (await readFile(abs)).toString('base64')}`;
  }
  return out;
}

/** The headers of a tar, in order. */
async function headers(bytes: Uint8Array): Promise<tar.Header[]> {
  const list: tar.Header[] = [];
  const extract = tar.extract();
  const reading = (async () => {
    for await (const entry of extract) {
      list.push(entry.header);
      entry.resume();
    }
  })();
  extract.end(Buffer.from(bytes));
  await reading;
  return list;
}

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'kiln-pack-'));
  src = join(tmp, 'src');
  outside = join(tmp, 'outside');
  await mkdir(outside);
  await writeFile(join(outside, 'secret'), 'secret');
  await mkdir(join(src, 'bin'), { recursive: true });
  await mkdir(join(src, 'lib/deep/er'), { recursive: true });
  await mkdir(join(src, 'empty'));
  await writeFile(join(src, 'README'), 'read me\n');
  await writeFile(join(src, 'bin/tool'), '#!/bin/sh\necho tool\n');
  await chmod(join(src, 'bin/tool'), 0o4755);
  await writeFile(join(src, 'lib/deep/er/blob.bin'), Buffer.alloc(200_000, 0xab));
  await writeFile(join(src, 'lib/private'), 'p');
  await chmod(join(src, 'lib/private'), 0o600);
  await writeFile(join(src, 'ünïcödé €.txt'), 'unicode');
  await writeFile(join(src, 'lib/deep/er', `${'long-name-'.repeat(12)}.txt`), 'long');
  // links that stay inside
  await symlink('../README', join(src, 'bin/readme-link'));
  await symlink('lib/deep', join(src, 'deep-dir-link'));
  await symlink('missing-target', join(src, 'dangling'));
  // links that leave the tree
  await symlink(join(outside, 'secret'), join(src, 'abs-link'));
  await symlink('../outside/secret', join(src, 'up-link'));
  await symlink('lib/../../outside', join(src, 'sneaky-link'));
  await symlink(outside, join(src, 'lib/out-dir'));
  await symlink('out-dir/secret', join(src, 'lib/via-out-dir'));
  execFileSync('mkfifo', [join(src, 'fifo')]);
});

after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

const SKIPPED = ['abs-link', 'fifo', 'lib/out-dir', 'lib/via-out-dir', 'sneaky-link', 'up-link'];

describe('packTree', () => {
  it('round-trips through extractTar: contents, x bits and inside links', async () => {
    const { bytes, missing, skipped, entries } = await packTreeToBuffer(src);
    assert.deepEqual(missing, []);
    assert.deepEqual([...skipped].sort(), SKIPPED);
    const dest = fresh();
    const r = await extractTar(bytes, dest);
    assert.equal(r.entries, entries);
    const want = await describeTree(src);
    for (const p of SKIPPED) delete want[p];
    assert.deepEqual(await describeTree(dest), want);
    assert.equal((await lstat(join(dest, 'bin/tool'))).mode & 0o7777, 0o755);
    assert.equal((await lstat(join(dest, 'lib/private'))).mode & 0o7777, 0o644);
    assert.equal(await readFile(join(dest, 'deep-dir-link/er/blob.bin'), 'hex'), 'ab'.repeat(200_000));
  });

  it('writes sorted entries with fixed metadata', async () => {
    const { bytes } = await packTreeToBuffer(src);
    const list = await headers(bytes);
    const names = list.map((h) => h.name);
    assert.deepEqual(
      names,
      [...names].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))),
    );
    for (const h of list) {
      assert.equal(h.mtime.getTime(), 0, h.name);
      assert.equal(h.uid, 0);
      assert.equal(h.gid, 0);
      assert.equal(h.uname, '');
      assert.equal(h.gname, '');
      const want =
        h.type === 'symlink' ? 0o777 : h.type === 'directory' || h.name === 'bin/tool' ? 0o755 : 0o644;
      assert.equal(h.mode, want, h.name);
    }
    assert.ok(names.includes('empty/'));
    assert.ok(!names.some((n) => SKIPPED.includes(n)));
  });

  it('is deterministic: same bytes twice, after touching mtimes and owners, gzip too', async () => {
    const first = await packTreeToBuffer(src);
    const firstGz = await packTreeToBuffer(src, undefined, { gzip: true });
    await utimes(join(src, 'README'), new Date(2001, 1, 1), new Date(2002, 2, 2));
    await utimes(join(src, 'lib/deep'), new Date(), new Date());
    execFileSync('chown', ['-h', '1234:5678', join(src, 'bin/tool'), join(src, 'bin/readme-link')]);
    const second = await packTreeToBuffer(src);
    const secondGz = await packTreeToBuffer(src, undefined, { gzip: true });
    assert.ok(Buffer.from(first.bytes).equals(second.bytes));
    assert.ok(Buffer.from(firstGz.bytes).equals(secondGz.bytes));
    assert.equal(firstGz.bytes[0], 0x1f);
    assert.ok(firstGz.bytes.length < first.bytes.length / 10);
  });

  it('packs only the given paths, and reports the missing ones', async () => {
    const paths = [
      'bin',
      'lib/deep/er/blob.bin',
      'nope.o',
      'README/child',
      'bin/readme-link',
      'lib/out-dir/secret',
    ];
    const { bytes, missing, skipped } = await packTreeToBuffer(src, paths);
    assert.deepEqual(missing, ['nope.o', 'README/child']);
    assert.deepEqual(skipped, ['lib/out-dir/secret']);
    const names = (await headers(bytes)).map((h) => h.name);
    assert.deepEqual(names, ['bin/', 'bin/readme-link', 'bin/tool', 'lib/deep/er/blob.bin']);
    const dest = fresh();
    await extractTar(bytes, dest);
    assert.equal(await readFile(join(dest, 'lib/deep/er/blob.bin'), 'hex'), 'ab'.repeat(200_000));
  });

  it('refuses paths that leave the root, and a root that is not a directory', async () => {
    for (const p of ['../outside/secret', '/etc/passwd', 'a/../../b', 'C:\\x']) {
      await assert.rejects(packTree(src, [p]), (err: unknown) => {
        assert.ok(err instanceof KilnError);
        assert.equal(err.code, 'ERR_VALIDATION');
        return true;
      });
    }
    await assert.rejects(packTree(join(src, 'README')), { code: 'ERR_NOT_FOUND' });
    await assert.rejects(packTree(join(tmp, 'no-such-dir')), { code: 'ERR_NOT_FOUND' });
  });

  it('makes archives GNU tar reads', async () => {
    const { bytes } = await packTreeToBuffer(src, undefined, { gzip: true });
    const file = join(tmp, 'kiln.tgz');
    await writeFile(file, bytes);
    const dest = fresh();
    await mkdir(dest);
    execFileSync('tar', ['-xzf', file, '-C', dest]);
    const want = await describeTree(src);
    for (const p of SKIPPED) delete want[p];
    assert.deepEqual(await describeTree(dest), want);
  });

  it('fails the stream when a file changes while it is being packed', async () => {
    const dir = fresh();
    await mkdir(dir);
    await writeFile(join(dir, 'grows'), 'abc');
    const { stream } = await packTree(dir);
    await appendFile(join(dir, 'grows'), 'more');
    await assert.rejects(
      (async () => {
        for await (const _ of stream);
      })(),
      /grows changed while it was being packed/,
    );
  });

  it('stops cleanly when the reader goes away', async () => {
    const dir = fresh();
    await mkdir(dir);
    await writeFile(join(dir, 'big'), Buffer.alloc(8 * 1024 * 1024, 1));
    await writeFile(join(dir, 'next'), 'next');
    await mkdir(join(dir, 'zdir/sub'), { recursive: true });
    await symlink('next', join(dir, 'zlink'));
    const { stream } = await packTree(dir);
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      assert.ok(chunk.length > 0);
      break; // destroys the stream
    }
    assert.ok(stream.destroyed);
    // a second packing of the same tree still works (no file handle or state left behind)
    const again = await packTreeToBuffer(dir);
    const dest = fresh();
    await extractTar(Readable.from([again.bytes]), dest);
    assert.equal(await readFile(join(dest, 'next'), 'utf8'), 'next');
  });
});
