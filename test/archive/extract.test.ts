import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createReadStream } from 'node:fs';
import {
  chmod,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { createGzip } from 'node:zlib';
import tar from 'tar-stream';
import { extractTar } from '../../archive/extract.ts';
import { checkEntryPath, symlinkTargetProblem } from '../../archive/entry-path.ts';
import { KilnError } from '../../protocol/errors.ts';

/** One entry for {@link makeTar}; `pax` forces a pax header so the name is stored verbatim. */
interface Spec {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link' | 'character-device' | 'block-device' | 'fifo';
  data?: string | Buffer;
  linkname?: string;
  mode?: number;
  pax?: Record<string, string>;
}

/** A tar built with tar-stream, entries in the order given (malicious ones included). */
async function makeTar(specs: Spec[]): Promise<Buffer> {
  const pack = tar.pack();
  const done = collect(pack);
  for (const s of specs) {
    const type = s.type ?? 'file';
    const header = { name: s.name, type, linkname: s.linkname, mode: s.mode, mtime: new Date(0), pax: s.pax };
    if (type === 'file') pack.entry(header, s.data ?? '');
    else pack.entry({ ...header, devmajor: 1, devminor: 3 });
  }
  pack.finalize();
  return done;
}

async function collect(stream: AsyncIterable<unknown>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

let tmp: string;
let base: string;
let sentinel: string;
let dest: string;

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'kiln-extract-'));
});
after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

let n = 0;
beforeEach(async () => {
  base = join(tmp, `case-${++n}`);
  sentinel = join(base, 'sentinel');
  dest = join(base, 'dest');
  await mkdir(sentinel, { recursive: true });
  await writeFile(join(sentinel, 'keep.txt'), 'keep');
});

/** Nothing was created or changed beside destDir, and destDir itself is gone. */
async function assertUntouched(): Promise<void> {
  assert.deepEqual(await readdir(base), ['sentinel']);
  assert.deepEqual(await readdir(sentinel), ['keep.txt']);
  assert.equal(await readFile(join(sentinel, 'keep.txt'), 'utf8'), 'keep');
}

async function rejected(promise: Promise<unknown>, why: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof KilnError, `not a KilnError: ${String(err)}`);
    assert.equal(err.code, 'ERR_ARCHIVE_INVALID');
    assert.match(err.message, why);
    return true;
  });
  await assertUntouched();
}

describe('extractTar refuses attacks and leaves nothing behind', () => {
  const attacks: [string, () => Spec[], RegExp][] = [
    ['an absolute path', () => [{ name: join(sentinel, 'pwned'), data: 'x', pax: {} }], /absolute path/],
    ['a ".." segment', () => [{ name: '../sentinel/pwned', data: 'x' }], /"\.\." segment/],
    ['a ".." after a name', () => [{ name: 'a/../../sentinel/pwned', data: 'x' }], /"\.\." segment/],
    ['backslashes', () => [{ name: '..\\sentinel\\pwned', data: 'x' }], /backslash/],
    ['a drive letter', () => [{ name: 'C:/pwned', data: 'x' }], /drive letter/],
    ['a relative drive path', () => [{ name: 'C:pwned', data: 'x' }], /drive letter/],
    ['a NUL byte', () => [{ name: 'ok', data: 'x', pax: { path: 'a\0/../../sentinel/pwned' } }], /NUL/],
    [
      'an absolute symlink, then a write through it',
      () => [
        { name: 'l', type: 'symlink', linkname: sentinel },
        { name: 'l/pwned', data: 'x' },
      ],
      /symlink to .* is an absolute path/,
    ],
    [
      'a symlink to "..", then a write through it',
      () => [
        { name: 'l', type: 'symlink', linkname: '../sentinel' },
        { name: 'l/pwned', data: 'x' },
      ],
      /"l".*points outside/,
    ],
    [
      'a deep symlink climbing too far',
      () => [{ name: 'a/b/l', type: 'symlink', linkname: '../../../sentinel' }],
      /points outside/,
    ],
    [
      'a symlink chain that climbs out through another link',
      () => [
        { name: 'd/l', type: 'symlink', linkname: '..' },
        { name: 'x', type: 'symlink', linkname: 'd/l/../sentinel' },
        { name: 'x/pwned', data: 'x' },
      ],
      /"x".*after a name/,
    ],
    [
      'a symlink to ".", then "a/../../x"',
      () => [
        { name: 'a', type: 'symlink', linkname: '.' },
        { name: 'a/../../sentinel/pwned', data: 'x' },
      ],
      /"\.\." segment/,
    ],
    [
      'a write through a symlink that stays inside',
      () => [
        { name: 'sub', type: 'directory' },
        { name: 'l', type: 'symlink', linkname: 'sub' },
        { name: 'l/f', data: 'x' },
      ],
      /"l\/f": goes through the symlink "l"/,
    ],
    [
      'a directory entry replacing a symlink',
      () => [
        { name: 'l', type: 'symlink', linkname: 'sub' },
        { name: 'l/', type: 'directory' },
      ],
      /replace a symlink with a directory/,
    ],
    [
      'a symlink replacing a file',
      () => [
        { name: 'f', data: 'x' },
        { name: 'f', type: 'symlink', linkname: 'g' },
      ],
      /replace a file with a symlink/,
    ],
    [
      'a file replacing a directory',
      () => [
        { name: 'd', type: 'directory' },
        { name: 'd', data: 'x' },
      ],
      /replace a dir with a file/,
    ],
    [
      'a hard link out of the tree',
      () => [{ name: 'h', type: 'link', linkname: '../sentinel/keep.txt' }],
      /hard link target .*"\.\." segment/,
    ],
    [
      'a hard link to an absolute path',
      () => [{ name: 'h', type: 'link', linkname: join(sentinel, 'keep.txt') }],
      /hard link target .*absolute/,
    ],
    [
      'a hard link to a path not extracted yet',
      () => [
        { name: 'h', type: 'link', linkname: 'later' },
        { name: 'later', data: 'x' },
      ],
      /not an earlier entry/,
    ],
    [
      'a hard link to a symlink (it would resolve from elsewhere)',
      () => [
        { name: 'a/b/s', type: 'symlink', linkname: '../../x' },
        { name: 'h', type: 'link', linkname: 'a/b/s' },
      ],
      /is a symlink, not a file/,
    ],
    [
      'a hard link to a directory',
      () => [
        { name: 'd', type: 'directory' },
        { name: 'h', type: 'link', linkname: 'd' },
      ],
      /is a dir, not a file/,
    ],
    ['a character device', () => [{ name: 'null', type: 'character-device' }], /character-device entries/],
    ['a block device', () => [{ name: 'sda', type: 'block-device' }], /block-device entries/],
    ['a fifo', () => [{ name: 'p', type: 'fifo' }], /fifo entries/],
  ];

  for (const [what, specs, why] of attacks) {
    it(`refuses ${what}`, async () => {
      await rejected(extractTar(await makeTar(specs()), dest), why);
    });
  }

  it('refuses entry types tar-stream does not know (GNU sparse)', async () => {
    const buf = await makeTar([{ name: 'sparse', data: 'x' }]);
    buf[156] = 'S'.charCodeAt(0);
    buf.fill(0x20, 148, 156);
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += buf[i] ?? 0;
    buf.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
    await rejected(extractTar(buf, dest), /unknown entries are not allowed/);
  });

  it('removes what it had extracted when a later entry is bad', async () => {
    const specs: Spec[] = [
      { name: 'ok/one.txt', data: 'one' },
      { name: 'ok/two.txt', data: 'two' },
      { name: '../sentinel/pwned', data: 'x' },
    ];
    await rejected(extractTar(await makeTar(specs), dest), /"\.\.\/sentinel\/pwned"/);
  });

  it('names the entry and gives it as detail', async () => {
    const err = await extractTar(await makeTar([{ name: 'x/../../y', data: '' }]), dest).catch(
      (e: unknown) => e,
    );
    assert.ok(err instanceof KilnError);
    assert.deepEqual(err.toJSON().error.entry, 'x/../../y');
    assert.equal(err.status, 422);
  });
});

describe('extractTar limits', () => {
  it('limits the number of entries', async () => {
    const specs = ['a', 'b', 'c', 'd', 'e'].map((name) => ({ name, data: name }));
    await rejected(extractTar(await makeTar(specs), dest, { maxEntries: 3 }), /"d": more than 3 entries/);
  });

  it('limits the total size', async () => {
    const specs = [
      { name: 'a', data: Buffer.alloc(600) },
      { name: 'b', data: Buffer.alloc(600) },
    ];
    await rejected(extractTar(await makeTar(specs), dest, { maxBytes: 1000 }), /"b": total size over/);
  });

  it('limits the size of one entry', async () => {
    const specs = [{ name: 'big', data: Buffer.alloc(2000) }];
    await rejected(extractTar(await makeTar(specs), dest, { maxEntryBytes: 1000 }), /"big": 2000 bytes/);
  });

  it('limits depth and name length', async () => {
    await rejected(
      extractTar(await makeTar([{ name: 'a/b/c/d', data: '' }]), dest, { maxDepth: 3 }),
      /deeper/,
    );
    const long = `${'x'.repeat(150)}/${'y'.repeat(150)}`;
    await rejected(
      extractTar(await makeTar([{ name: long, data: '' }]), dest, { maxPathLength: 200 }),
      /longer/,
    );
  });

  /** 200 MiB of zeros in one entry, gzipped (about 200 KiB). */
  let bomb: Buffer;
  before(async () => {
    const pack = tar.pack();
    const size = 200 * 1024 * 1024;
    const entry = pack.entry({ name: 'zeros', size, mtime: new Date(0) });
    const gz = createGzip({ level: 9 });
    const done = collect(Readable.from(pack as AsyncIterable<Buffer>, { objectMode: false }).pipe(gz));
    const zeros = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < 200; i++) {
      if (!entry.write(zeros)) await new Promise<void>((r) => entry.once('drain', () => r()));
    }
    entry.end(null);
    pack.finalize();
    bomb = await done;
  });

  /** The bomb, served 1 KiB at a time, counting what was read. */
  function served(): { stream: Readable; read: () => number } {
    let read = 0;
    const stream = Readable.from(
      (function* () {
        for (let i = 0; i < bomb.length; i += 1024) {
          read = i + 1024;
          yield bomb.subarray(i, i + 1024);
        }
      })(),
    );
    return { stream, read: () => read };
  }

  it('stops a gzip bomb by its compression ratio, long before the end', async () => {
    assert.ok(bomb.length < 1024 * 1024, `bomb is ${bomb.length} bytes`);
    const src = served();
    await rejected(extractTar(src.stream, dest), /compression ratio over 200:1/);
    assert.ok(src.read() < bomb.length / 4, `read ${src.read()} of ${bomb.length} compressed bytes`);
  });

  it('stops the same bomb by its declared size before writing anything', async () => {
    const src = served();
    await rejected(
      extractTar(src.stream, dest, { maxBytes: 10 * 1024 * 1024, maxRatio: 1e9 }),
      /"zeros": total size/,
    );
    assert.ok(src.read() < bomb.length / 4, `read ${src.read()} of ${bomb.length} compressed bytes`);
  });

  it('stops a bomb made only of end-of-archive blocks', async () => {
    const zeros = gzipSync(Buffer.alloc(64 * 1024 * 1024), { level: 9 });
    await rejected(extractTar(zeros, dest), /compression ratio/);
  });
});

describe('extractTar refuses corrupt and unsupported archives', () => {
  let good: Buffer;
  before(async () => {
    good = await makeTar([
      { name: 'first.txt', data: 'first' },
      { name: 'second.bin', data: Buffer.alloc(10_000, 7) },
    ]);
  });

  it('refuses an archive cut inside an entry', async () => {
    await rejected(extractTar(good.subarray(0, 512 * 4), dest), /truncated|Unexpected end/);
  });

  it('refuses an archive cut at a block boundary (no end marker)', async () => {
    await rejected(extractTar(good.subarray(0, good.length - 1024), dest), /no end-of-archive marker/);
  });

  it('refuses a header with a bad checksum', async () => {
    const bad = Buffer.from(good);
    bad[0] = 'F'.charCodeAt(0);
    await rejected(extractTar(bad, dest), /corrupt/);
  });

  it('refuses a truncated gzip stream', async () => {
    const gz = gzipSync(good);
    await rejected(extractTar(gz.subarray(0, gz.length - 20), dest), /corrupt or truncated/);
  });

  it('refuses things that are not archives, and empty input', async () => {
    await rejected(extractTar(Buffer.from('hello, this is not a tar file\n'.repeat(40)), dest), /corrupt/);
    await rejected(extractTar(new Uint8Array(0), dest), /empty/);
  });

  it('recognises zstd, xz and bzip2 and says they are not supported', async () => {
    await rejected(
      extractTar(Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0]), dest),
      /zstd .*not supported yet/,
    );
    await rejected(extractTar(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0, 1]), dest), /xz .*not supported/);
    await rejected(extractTar(Buffer.from('BZh91AY&SY'), dest), /bzip2 .*not supported/);
  });

  it('refuses a destination that exists, without touching it', async () => {
    await mkdir(dest);
    await writeFile(join(dest, 'mine'), 'mine');
    await assert.rejects(extractTar(good, dest), { code: 'ERR_CONFLICT' });
    assert.deepEqual(await readdir(dest), ['mine']);
  });
});

describe('extractTar extracts good archives', () => {
  it('normalises modes: keeps the x bit, never setuid/setgid/sticky', async () => {
    const specs: Spec[] = [
      { name: 'suid', data: 'x', mode: 0o4755 },
      { name: 'private', data: 'x', mode: 0o600 },
      { name: 'exec-only', data: 'x', mode: 0o711 },
      { name: 'sticky/', type: 'directory', mode: 0o1777 },
      { name: 'readonly/', type: 'directory', mode: 0o555 },
      { name: 'readonly/inside', data: 'x', mode: 0o2644 },
    ];
    const r = await extractTar(await makeTar(specs), dest);
    assert.deepEqual(r, { entries: 6, bytes: 4 });
    const mode = async (p: string): Promise<number> => (await stat(join(dest, p))).mode & 0o7777;
    assert.equal(await mode('suid'), 0o755);
    assert.equal(await mode('private'), 0o644);
    assert.equal(await mode('exec-only'), 0o755);
    assert.equal(await mode('sticky'), 0o755);
    assert.equal(await mode('readonly'), 0o755);
    assert.equal(await mode('readonly/inside'), 0o644);
  });

  it('creates parents, keeps links that stay inside, and lets a later file win', async () => {
    const specs: Spec[] = [
      { name: './a/b/c.txt', data: 'c' },
      { name: 'a/b/up', type: 'symlink', linkname: '../../top.txt' },
      { name: 'a/self', type: 'symlink', linkname: '.' },
      { name: 'top.txt', data: 'old' },
      { name: 'top.txt', data: 'new' },
      { name: 'hard', type: 'link', linkname: 'a/b/c.txt' },
      { name: `long/${'n'.repeat(120)}/é.txt`, data: 'unicode' },
    ];
    await extractTar(await makeTar(specs), dest);
    assert.equal(await readFile(join(dest, 'a/b/up'), 'utf8'), 'new');
    assert.equal(await readlink(join(dest, 'a/self')), '.');
    const [c, hard] = await Promise.all([stat(join(dest, 'a/b/c.txt')), stat(join(dest, 'hard'))]);
    assert.equal(hard.ino, c.ino);
    assert.equal(await readFile(join(dest, `long/${'n'.repeat(120)}/é.txt`), 'utf8'), 'unicode');
    assert.deepEqual((await readdir(base)).sort(), ['dest', 'sentinel']);
  });

  it('reads from a stream and from a gzip stream', async () => {
    const plain = await makeTar([{ name: 'f', data: 'streamed' }]);
    const file = join(base, 'in.tar.gz');
    await writeFile(file, gzipSync(plain));
    await extractTar(createReadStream(file), dest);
    assert.equal(await readFile(join(dest, 'f'), 'utf8'), 'streamed');
    await extractTar(Readable.from([plain.subarray(0, 3), plain.subarray(3)]), join(base, 'dest2'));
    assert.equal(await readFile(join(base, 'dest2/f'), 'utf8'), 'streamed');
  });

  it('extracts archives made by GNU tar (plain and gzip, with ./ names and hard links)', async () => {
    const src = join(base, 'src');
    await mkdir(join(src, 'bin'), { recursive: true });
    await mkdir(join(src, 'empty'));
    await writeFile(join(src, 'bin/tool'), '#!/bin/sh\necho tool\n');
    await chmod(join(src, 'bin/tool'), 0o755);
    await writeFile(join(src, 'data.txt'), 'data');
    await symlink('bin/tool', join(src, 'tool-link'));
    execFileSync('ln', [join(src, 'data.txt'), join(src, 'data-hard.txt')]);
    for (const [flag, file] of [
      ['-cf', 'gnu.tar'],
      ['-czf', 'gnu.tgz'],
    ] as const) {
      execFileSync('tar', ['-C', src, flag, join(base, file), '.']);
      const out = join(base, `out-${file}`);
      const r = await extractTar(await readFile(join(base, file)), out);
      assert.equal(r.entries, 7);
      assert.equal(await readFile(join(out, 'bin/tool'), 'utf8'), '#!/bin/sh\necho tool\n');
      assert.equal((await stat(join(out, 'bin/tool'))).mode & 0o777, 0o755);
      assert.equal((await stat(join(out, 'data.txt'))).mode & 0o777, 0o644);
      assert.equal(await readlink(join(out, 'tool-link')), 'bin/tool');
      assert.equal((await stat(join(out, 'data-hard.txt'))).ino, (await stat(join(out, 'data.txt'))).ino);
      assert.ok((await lstat(join(out, 'empty'))).isDirectory());
    }
  });
});

describe('entry path rules', () => {
  it('splits and normalises names', () => {
    assert.deepEqual(checkEntryPath('./a//b/./c/'), { segments: ['a', 'b', 'c'] });
    assert.deepEqual(checkEntryPath('./'), { segments: [] });
  });

  it('refuses names Windows would misread, when extracting on Windows', () => {
    for (const name of ['ab:c', 'dir/CON', 'nul.txt', 'x.', 'y ', 'q?']) {
      assert.ok(checkEntryPath(name, true).problem, name);
      assert.equal(checkEntryPath(name, false).problem, undefined, name);
    }
  });

  it('allows leading ".." up to the link directory only', () => {
    assert.equal(symlinkTargetProblem('../lib/x.so', ['a', 'l']), undefined);
    assert.equal(symlinkTargetProblem('./../../x', ['a', 'b', 'l']), undefined);
    assert.match(symlinkTargetProblem('../../x', ['a', 'l']) ?? '', /outside/);
    assert.match(symlinkTargetProblem('sub/../x', ['l']) ?? '', /after a name/);
    assert.match(symlinkTargetProblem('', ['l']) ?? '', /empty/);
  });
});
