/**
 * Windows-target and macOS-target compiles through a Linux builder, with a preset made from
 * Debian's clang (`kiln toolchain package clang`: its sibling drivers clang-cl-14 and clang++ come
 * along) and published with its targets. `kiln cc clang-cl-14 /c /showIncludes` gives a COFF
 * object and the "Note: including file:" lines a local clang-cl prints, on stdout; `kiln cc clang
 * --target=arm64-apple-macos11` gives a Mach-O arm64 object. Sources are freestanding (no SDK).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startDevFarm, type DevFarm } from '../../wiring/dev-farm.ts';
import { readStats } from '../../client/cc/stats.ts';
import { kiln } from '../helpers/cli.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLANG_CL = 'clang-cl-14';
const ready =
  spawnSync(CLANG_CL, ['--version']).status === 0 && spawnSync('clang', ['--version']).status === 0
    ? false
    : 'clang and clang-cl-14 are needed (Debian: clang, clang-tools-14)';

/** The clang toolchain, packaged once per clang install (packaging is deterministic). */
async function clangArchive(): Promise<string> {
  const file = join(ROOT, '.tmp', 'toolchains', 'clang-14.tar.gz');
  if (existsSync(file) && statSync(file).mtimeMs > statSync('/usr/bin/clang').mtimeMs) return file;
  await mkdir(join(ROOT, '.tmp', 'toolchains'), { recursive: true });
  const r = await kiln(['toolchain', 'package', 'clang', '--no-shell', '--gzip-level', '1', '-o', file], {});
  assert.equal(r.code, 0, r.stderr);
  return file;
}

/** `file`'s description of a file, without its name. */
const fileType = (p: string): string => execFileSync('file', ['-b', p], { encoding: 'utf8' }).trim();
/** The object without COFF's TimeDateStamp (bytes 4–7), which clang-cl sets unless /Brepro. */
const noStamp = (o: Buffer): Buffer => Buffer.concat([o.subarray(0, 4), o.subarray(8)]);

describe(
  'cross compiles through a Linux builder with a clang preset',
  { skip: ready, timeout: 590_000 },
  () => {
    let farm: DevFarm;
    let work: string;
    let env: NodeJS.ProcessEnv;
    const cc = (args: string[], extra: NodeJS.ProcessEnv = {}) =>
      kiln(['cc', ...args], { cwd: work, env: { ...env, ...extra } });

    const outcomes = () => {
      const s = readStats({ env });
      return { misses: s.cacheMisses, hits: s.cacheHits, local: s.local, fallbacks: s.fallbacks };
    };

    before(async () => {
      farm = await startDevFarm({ builders: 1, slots: 2, port: 0 });
      work = await mkdtemp(join(tmpdir(), 'kiln-cross-'));
      const archive = await clangArchive();
      const push = await kiln(
        [
          'toolchain',
          'push',
          archive,
          '--name',
          'clang-14',
          '--platform',
          'linux-x86_64',
          '--compiler',
          '/usr/bin/clang',
          '--target',
          'x86_64-pc-windows-msvc',
          '--target',
          'arm64-apple-macos11',
          '--target',
          'x86_64-linux-gnu',
        ],
        { url: farm.url, token: farm.token, cwd: work },
      );
      assert.equal(push.code, 0, push.stderr);
      await writeFile(
        join(work, 'kiln.toml'),
        `[toolchains]\n"${CLANG_CL}" = "clang-14@linux-x86_64"\nclang = "clang-14@linux-x86_64"\n`,
      );
      await mkdir(join(work, 'inc'));
      await mkdir(join(work, 'obj'));
      await writeFile(
        join(work, 'inc', 'h1.h'),
        '#pragma once\n#include "h2.h"\n#define TWICE(x) ((x) * 2)\n',
      );
      await writeFile(join(work, 'inc', 'h2.h'), '#ifndef H2\n#define H2\ntypedef int myint;\n#endif\n');
      await writeFile(join(work, 'a.c'), '#include "h1.h"\nmyint f(myint x) { return TWICE(x) + VAL; }\n');
      await writeFile(join(work, 'm.c'), 'int mac(int x) { return x * 3 + 1; }\n');
      env = {
        KILN_GATEWAY: farm.url,
        KILN_TOKEN: farm.token,
        KILN_CONFIG: join(work, 'kiln.toml'),
        KILN_STATS_FILE: join(work, 'stats.json'),
        KILN_CC_MANIFESTS: join(work, 'manifests'),
        KILN_CC_TIMEOUT: '300', // the first compile fetches and unpacks the toolchain
      };
    });
    after(async () => {
      await farm?.stop();
      if (work) await rm(work, { recursive: true, force: true });
    });

    it('kiln toolchain ls shows the preset’s targets', async () => {
      const ls = await kiln(['toolchain', 'ls'], { url: farm.url, token: farm.token, cwd: work });
      assert.match(
        ls.stdout,
        /^clang-14@linux-x86_64 .* targets x86_64-pc-windows-msvc arm64-apple-macos11 x86_64-linux-gnu\n$/,
      );
    });

    it('clang-cl /c /showIncludes: a COFF object and the local clang-cl’s stdout, a miss then a hit', async () => {
      const args = [CLANG_CL, '/c', '/showIncludes', '/Iinc', '/DVAL=3', '/O2', 'a.c', '/Foobj/'];
      const local = spawnSync(args[0]!, args.slice(1), { cwd: work });
      assert.equal(local.status, 0, local.stderr.toString());
      const want = await readFile(join(work, 'obj', 'a.obj'));
      assert.match(
        local.stdout.toString(),
        /^Note: including file: inc\/h1\.h\nNote: including file: {2}inc\/h2\.h\n$/,
      );
      for (const round of ['miss', 'hit']) {
        await rm(join(work, 'obj', 'a.obj'));
        const r = await cc(args, { KILN_CC_VERBOSE: round === 'miss' ? '1' : '' });
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout, local.stdout.toString(), `${round}: stdout is the local clang-cl’s`);
        if (round === 'miss')
          assert.match(r.stderr, /compile +clang-cl-14 .*\/c \/Tc a\.c \/Foout\.o/, 'distributed');
        else assert.equal(r.stderr, '');
        const obj = await readFile(join(work, 'obj', 'a.obj'));
        assert.match(fileType(join(work, 'obj', 'a.obj')), /^Intel amd64 COFF object file/);
        assert.deepEqual(noStamp(obj), noStamp(want), 'the local object but its time stamp');
      }
      const s = readStats({ env });
      assert.deepEqual([s.cacheMisses, s.cacheHits, s.fallbacks], [1, 1, 0]);
    });

    it('clang-cl /Z7 is distributed and names the local source; /Zi compiles here with the reason', async () => {
      const r = await cc([CLANG_CL, '/c', '/Z7', '/Brepro', '/Iinc', '/DVAL=3', 'a.c', '/Foobj/z.obj']);
      assert.equal(r.code, 0, r.stderr);
      const cv = execFileSync('llvm-readobj', ['--codeview', join(work, 'obj', 'z.obj')], {
        encoding: 'utf8',
      });
      assert.ok(cv.includes(`ObjectName: ${join(work, 'obj', 'z.obj')}`), 'S_OBJNAME is the local object');
      assert.ok(!cv.includes('/job/'), 'nothing of the builder’s directory');
      assert.deepEqual(outcomes(), { misses: 2, hits: 1, local: 0, fallbacks: 0 }, 'compiled on the farm');
      const zi = await cc([CLANG_CL, '/c', '/Zi', '/Iinc', '/DVAL=3', 'a.c', '/Foobj/zi.obj'], {
        KILN_CC_VERBOSE: '1',
      });
      assert.equal(zi.code, 0, zi.stderr);
      assert.match(zi.stderr, /compiling locally: shared PDB \(\/Zi, \/ZI\) \(\/Zi\)/);
    });

    it('clang --target=arm64-apple-macos11: a Mach-O arm64 object, the local one byte for byte', async () => {
      const args = ['clang', '--target=arm64-apple-macos11', '-O2', '-c', 'm.c', '-o', 'obj/m.o'];
      execFileSync(args[0]!, args.slice(1), { cwd: work });
      const want = await readFile(join(work, 'obj', 'm.o'));
      await rm(join(work, 'obj', 'm.o'));
      const r = await cc(args, { KILN_CC_VERBOSE: '1' });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /kiln cc: distributing c compile/);
      assert.match(fileType(join(work, 'obj', 'm.o')), /^Mach-O 64-bit arm64 object/);
      assert.deepEqual(await readFile(join(work, 'obj', 'm.o')), want);
      assert.deepEqual(outcomes(), { misses: 3, hits: 1, local: 1, fallbacks: 0 }, 'compiled on the farm');
    });

    it('a compile for a target the preset is not published for compiles here, with the reason', async () => {
      const r = await cc(['clang', '--target=aarch64-linux-gnu', '-c', 'm.c', '-o', 'obj/a64.o'], {
        KILN_CC_VERBOSE: '1',
      });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /clang-14@linux-x86_64 is for .*, this compile for aarch64-linux-gnu\n/);
      assert.match(r.stderr, /kiln cc: compiling locally: the preset is for other targets\n/);
      assert.match(fileType(join(work, 'obj', 'a64.o')), /^ELF 64-bit LSB relocatable, ARM aarch64/);
      assert.deepEqual(outcomes(), { misses: 3, hits: 1, local: 2, fallbacks: 0 });
    });

    it('a clang compile without --target names the local driver’s target on the builder', async () => {
      const r = await cc(['clang', '-O2', '-c', 'm.c', '-o', 'obj/l.o'], { KILN_CC_VERBOSE: '1' });
      assert.equal(r.code, 0, r.stderr);
      const triple = /"-triple" "([^"]+)"/.exec(
        spawnSync('clang', ['-###', '-c', 'm.c'], { cwd: work }).stderr.toString(),
      )![1];
      assert.ok(r.stderr.includes(`kiln cc: farm job: clang --target=${triple} -O2 `), r.stderr);
      assert.match(fileType(join(work, 'obj', 'l.o')), /^ELF 64-bit LSB relocatable, x86-64/);
      assert.deepEqual(outcomes(), { misses: 4, hits: 1, local: 2, fallbacks: 0 }, 'compiled on the farm');
    });
  },
);
