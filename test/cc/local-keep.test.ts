/**
 * kiln cc's local keep (client/cc/local-keep.ts) on real gcc: a compile that runs here by design
 * (gnulib's `__COUNTER__` in `#if`) is answered the second time without running the compiler,
 * with the local object; a header edit, another option or another compiler compiles again; a
 * compile that uses the time is never kept. kiln cc runs in-process; the gateway it is given is
 * never asked (these compiles are decided before any farm call), so none is started.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, cp, mkdir, mkdtemp, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { kilnCc } from '../../client/cc/compile.ts';
import { readStats } from '../../client/cc/stats.ts';

const exec = promisify(execFile);

/** gnulib's verify.h idiom: gcc -fdirectives-only refuses it, so kiln cc compiles it here. */
const COUNTER =
  '#if defined __COUNTER__ && __COUNTER__ != __COUNTER__\n# define ID __COUNTER__\n#else\n# define ID 0\n#endif\n';

const SOURCES: Record<string, string> = {
  'inc/k.h': '#define K 1\n',
  'src/a.c': `${COUNTER}#include "k.h"\nint a(void) { return ID + K; }\n`,
  'src/warn.c': `${COUNTER}int w(void) {\n  int unused;\n  return ID;\n}\n`,
  'src/date.c': `${COUNTER}const char *built(void) { return __DATE__; }\n`,
  'src/time.c': 'const char *at(void) { return __TIME__; }\n',
  'src/pasted.c': `${COUNTER}#define CAT(a, b) a##b\nconst char *t(void) { return CAT(__TI, ME__); }\n`,
  'src/bad.c': `${COUNTER}int bad(void) { return missing; }\n`,
};

function sink(): { stream: Writable; text: () => string } {
  const parts: Buffer[] = [];
  const stream = new Writable({
    write(c: Buffer, _e, done) {
      parts.push(c);
      done();
    },
  });
  return { stream, text: () => Buffer.concat(parts).toString('utf8') };
}

describe('kiln cc local keep', { timeout: 120_000 }, () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  const calls = (): Promise<string[]> =>
    readFile(join(dir, 'gcc.log'), 'utf8').then(
      (t) => t.split('\n').filter(Boolean),
      () => [],
    );
  /** Compiles through kiln cc in `tree` (cwd), with the compiler `cc` (gcc: the logging one). */
  const kiln = async (args: string[], tree = join(dir, 'tree'), cc = 'gcc') => {
    const out = sink();
    const err = sink();
    const code = await kilnCc([cc, ...args], { cwd: tree, env, stdout: out.stream, stderr: err.stream });
    return { code, stdout: out.text(), stderr: err.text() };
  };
  const local = async (
    args: string[],
    tree = join(dir, 'tree'),
  ): Promise<{ obj: Buffer; stderr: string }> => {
    const r = await exec('/usr/bin/gcc', [...args, '-o', 'local.o'], { cwd: tree, env });
    return { obj: await readFile(join(tree, 'local.o')), stderr: r.stderr };
  };
  /** Compiler runs (not preprocessing) since `n`. */
  const compiled = async (n: number): Promise<number> =>
    (await calls()).slice(n).filter((l) => !l.includes(' -E ')).length;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kiln-keep-'));
    await mkdir(join(dir, 'bin'));
    // A gcc that notes every run, so the test sees when there was none.
    await writeFile(
      join(dir, 'bin', 'gcc'),
      `#!/bin/sh\necho " $* " >> ${join(dir, 'gcc.log')}\nexec /usr/bin/gcc "$@"\n`,
    );
    await chmod(join(dir, 'bin', 'gcc'), 0o755);
    for (const [name, text] of Object.entries(SOURCES)) {
      await mkdir(join(dir, 'tree', name, '..'), { recursive: true });
      await writeFile(join(dir, 'tree', name), text);
    }
    env = {
      PATH: `${join(dir, 'bin')}:${process.env.PATH}`,
      HOME: dir,
      LC_ALL: 'C',
      KILN_GATEWAY: 'http://127.0.0.1:9', // never asked
      KILN_STATS_FILE: join(dir, 'stats.json'),
      KILN_CC_MANIFESTS: join(dir, 'manifests'),
    };
  });
  after(() => rm(dir, { recursive: true, force: true }));

  const A = ['-O2', '-Iinc', '-MD', '-c', 'src/a.c', '-o', 'a.o'];

  it('a __COUNTER__-in-#if compile is kept: the second is answered without the compiler, the local object', async () => {
    const n = (await calls()).length;
    assert.deepEqual(await kiln(A), { code: 0, stdout: '', stderr: '' });
    assert.equal(await compiled(n), 1, 'the first compiles here');
    const depfile = await readFile(join(dir, 'tree', 'a.d'), 'utf8');
    assert.match(depfile, /inc\/k\.h/);
    await rm(join(dir, 'tree', 'a.o'));
    await rm(join(dir, 'tree', 'a.d'));
    const m = (await calls()).length;
    assert.deepEqual(await kiln(A), { code: 0, stdout: '', stderr: '' });
    assert.equal((await calls()).length, m, 'no compiler run at all, not even a preprocessing');
    assert.equal(await readFile(join(dir, 'tree', 'a.d'), 'utf8'), depfile, 'the depfile');
    const want = await local(['-O2', '-Iinc', '-c', 'src/a.c']);
    assert.ok((await readFile(join(dir, 'tree', 'a.o'))).equals(want.obj), 'the local object');
    const s = readStats({ env });
    assert.equal(s.keepHits, 1);
    assert.equal(s.cacheHits, 0);
    assert.equal(s.localReasons['__COUNTER__ in #if or #include (counted by the local preprocessing)'], 1);
  });

  it('a header edited (same size, times put back) compiles again, then is kept in turn', async () => {
    const h = join(dir, 'tree', 'inc', 'k.h');
    const was = await stat(h);
    await writeFile(h, '#define K 2\n');
    await utimes(h, was.atime, was.mtime);
    const n = (await calls()).length;
    assert.equal((await kiln(A)).code, 0);
    assert.equal(await compiled(n), 1, 'a real compile');
    const want = await local(['-O2', '-Iinc', '-c', 'src/a.c']);
    assert.ok((await readFile(join(dir, 'tree', 'a.o'))).equals(want.obj), 'the object for K 2');
    const m = (await calls()).length;
    assert.equal((await kiln(A)).code, 0);
    assert.equal((await calls()).length, m, 'the new version is kept');
    assert.equal(readStats({ env }).keepHits, 2);
  });

  it('another option or another compiler compiles again', async () => {
    const n = (await calls()).length;
    assert.equal((await kiln(['-O1', ...A.slice(1)])).code, 0);
    assert.equal(await compiled(n), 1, '-O1 instead of -O2');
    const other = join(dir, 'bin2');
    await mkdir(other, { recursive: true });
    await cp(join(dir, 'bin', 'gcc'), join(other, 'gcc'));
    await writeFile(join(other, 'gcc'), `${await readFile(join(other, 'gcc'), 'utf8')}# another\n`);
    await chmod(join(other, 'gcc'), 0o755);
    const m = (await calls()).length;
    assert.equal((await kiln(A, undefined, join(other, 'gcc'))).code, 0);
    assert.equal(await compiled(m), 1, 'another compiler binary');
    assert.equal(readStats({ env }).keepHits, 2);
  });

  it("a warning is kept with the compile: the local compiler's text again, without compiling", async () => {
    const args = ['-O2', '-Wall', '-c', 'src/warn.c', '-o', 'warn.o'];
    const want = await local(args.slice(0, 4));
    assert.match(want.stderr, /unused variable/);
    const first = await kiln(args);
    const n = (await calls()).length;
    const second = await kiln(args);
    assert.equal((await calls()).length, n, 'kept');
    for (const r of [first, second]) assert.deepEqual(r, { code: 0, stdout: '', stderr: want.stderr });
    assert.ok((await readFile(join(dir, 'tree', 'warn.o'))).equals(want.obj));
  });

  it("behind the native front on a terminal: coloured diagnostics, kept as the compile's", async () => {
    const args = ['-O2', '-Wall', '-c', 'src/warn.c', '-o', 'warn.o'];
    const saved = env;
    env = { ...env, KILN_CC_STDERR_TTY: '1', TERM: 'xterm' }; // what kiln-cc says for a terminal
    try {
      const first = await kiln(args);
      const n = (await calls()).length;
      const second = await kiln(args);
      assert.equal((await calls()).length, n, 'kept');
      assert.ok(first.stderr.includes('\u001b['), 'coloured');
      assert.deepEqual(second, first);
    } finally {
      env = saved;
    }
  });

  it('a compile that uses the time, or fails, is never kept', async () => {
    const before = readStats({ env }).keepHits;
    for (const file of ['date', 'time', 'pasted', 'bad']) {
      const args = ['-O2', '-c', `src/${file}.c`, '-o', `${file}.o`];
      const n = (await calls()).length;
      const first = await kiln(args);
      const second = await kiln(args);
      assert.equal(first.code, file === 'bad' ? 1 : 0, file);
      assert.equal(second.code, first.code, file);
      assert.equal(await compiled(n), 2, `${file}: compiled both times`);
    }
    // A -D that names the time: the same.
    const n = (await calls()).length;
    for (let i = 0; i < 2; i++)
      assert.equal((await kiln(['-DWHEN=__TIME__', '-O2', '-Iinc', '-c', 'src/a.c', '-o', 'w.o'])).code, 0);
    assert.equal(await compiled(n), 2, '-D…=__TIME__: compiled both times');
    assert.equal(readStats({ env }).keepHits, before);
  });

  it('another checkout of the same sources finds a compile whose outputs name no folder', async () => {
    const there = join(dir, 'elsewhere', 'tree2');
    await cp(join(dir, 'tree'), there, { recursive: true });
    const n = (await calls()).length;
    assert.equal((await kiln(A, there)).code, 0);
    assert.equal(await compiled(n), 0, 'kept from the first folder');
    const want = await local(['-O2', '-Iinc', '-c', 'src/a.c'], there);
    assert.ok((await readFile(join(there, 'a.o'))).equals(want.obj));
    assert.match(await readFile(join(there, 'a.d'), 'utf8'), /^a\.o: src\/a\.c /, 'the depfile, relative');
    // -g names the folder in the object: kept for its own folder only.
    const g = ['-g', ...A];
    assert.equal((await kiln(g)).code, 0);
    const m = (await calls()).length;
    assert.equal((await kiln(g, there)).code, 0);
    assert.equal(await compiled(m), 1, '-g: compiled again in the other folder');
    const wantG = await local(['-g', '-O2', '-Iinc', '-c', 'src/a.c'], there);
    assert.ok((await readFile(join(there, 'a.o'))).equals(wantG.obj), 'the object of its own folder');
    const k = (await calls()).length;
    assert.equal((await kiln(g, there)).code, 0);
    assert.equal((await calls()).length, k, 'and kept there in turn');
  });
});
