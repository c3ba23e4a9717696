/** The pieces of clang's DWARF 5 farm compile (client/cc/clang-vfs.ts); test/e2e/cc-exact runs it for real. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseJobLine, probedFiles, vfsJob } from '../../client/cc/clang-vfs.ts';

describe('clang-vfs', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kiln-clang-vfs-'));
    await mkdir(join(dir, 'inc'));
    await writeFile(join(dir, 'inc', 'probe.h'), '');
    await writeFile(join(dir, 'a.c'), 'int a;\n');
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('reads a -### line, escapes and all', () => {
    assert.deepEqual(parseJobLine(' "/usr/bin/clang" "-cc1" "-D" "S=\\"x y\\"" "a\\\\b"'), [
      '/usr/bin/clang',
      '-cc1',
      '-D',
      'S="x y"',
      'a\\b',
    ]);
  });

  it('finds what a literal __has_include may find here, and refuses a macro operand', () => {
    const cc1 = ['clang', '-cc1', '-I', 'inc', '-internal-isystem', '/nonexistent'];
    const read = [join(dir, 'a.c')];
    const text =
      '#ifdef __has_include\n#if __has_include("probe.h") || __has_include_next(<none.h>)\n#endif\n#endif\n';
    assert.deepEqual(probedFiles(text, cc1, read, dir), [join(dir, 'inc', 'probe.h')]);
    assert.deepEqual(probedFiles('int x;\n', cc1, read, dir), []);
    assert.equal(probedFiles('#if __has_include(P)\n#endif\n', cc1, read, dir), null);
  });

  it('ships each file at its path and below the remote working directory, without depfile options', () => {
    const cc1 = ['/usr/bin/clang', '-cc1', '-dependency-file', 'a.d', '-MT', 'a.o', '-sys-header-deps'];
    const j = vfsJob([...cc1, '-o', 'a.o', '-x', 'c', 'a.c'], [join(dir, 'a.c'), join(dir, 'gone.h')], dir)!;
    assert.deepEqual(j.argv, [
      'clang',
      '-cc1',
      '-o',
      '/job/kiln/out.o',
      '-x',
      'c',
      'a.c',
      '-ivfsoverlay',
      '/job/kiln/vfs.yaml',
    ]);
    assert.equal(j.cwd, `kiln${dir}`);
    assert.equal(j.output, 'kiln/out.o');
    const overlay = JSON.parse(j.files.find(([p]) => p === 'kiln/vfs.yaml')![1].toString()) as {
      fallthrough: boolean;
      roots: { name: string; 'external-contents': string }[];
    };
    assert.equal(overlay.fallthrough, false);
    assert.deepEqual(
      overlay.roots.map((r) => [r.name, r['external-contents']]),
      [
        [join(dir, 'a.c'), '/job/kiln/vfs/0'],
        [`/job/kiln${join(dir, 'a.c')}`, '/job/kiln/vfs/0'],
      ],
      'a file that does not exist here is not there either',
    );
    assert.equal(j.files.find(([p]) => p === 'kiln/vfs/0')![1].toString(), 'int a;\n');
    assert.equal(vfsJob([...cc1, '-ivfsoverlay', 'x.yaml', '-o', 'a.o', 'a.c'], [], dir), null);
    assert.equal(vfsJob(['/usr/bin/clang', '-cc1', 'a.c'], [], dir), null, 'no -o');
  });
});
