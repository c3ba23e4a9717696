/**
 * `kiln cc` for clang-cl (MSVC-style command lines). The plans are checked against Debian's
 * clang-cl: each command runs once as is, then as the plan says (local `/E -Xclang
 * -frewrite-includes` with `/showIncludes` lines on its stderr, a "remote" compile of the text in
 * another directory with the local driver's `--target`), and both must give the same stdout,
 * stderr, exit code and object bytes.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path, { dirname, join, resolve } from 'node:path';
import { analyzeCompile, describePlan, type CompilePlan, type RemotePlan } from '../../client/cc/args.ts';
import { decodeResponseFile, splitWindowsResponseFile } from '../../client/cc/response-file.ts';
import { layOut, layoutRoot, markerPaths, namesRemoteRoot } from '../../client/cc/remote-layout.ts';
import { localTarget, namedTarget, targetArgs, withTarget } from '../../client/cc/target.ts';
import { targetsInclude } from '../../client/cc/preset-targets.ts';

const w = (cmd: string): string[] => cmd.split(' ');
const files: Record<string, string> = {};
const readFile = (p: string): string => {
  const f = files[p];
  if (f === undefined) throw Object.assign(new Error(`ENOENT: ${p}`), { code: 'ENOENT' });
  return f;
};
const plan = (cmd: string): CompilePlan => analyzeCompile(w(cmd), { cwd: '/w', readFile });
function remote(cmd: string): RemotePlan {
  const p = plan(cmd);
  assert.ok(p.distributable, `expected distributable: ${cmd} → ${describePlan(p)}`);
  return p;
}

describe('clang-cl: what runs locally, and why', () => {
  const cases: [string, string][] = [
    ['clang-cl a.c /Fea.exe', 'linking (no -c)'],
    ['clang-cl /c a.c /Zi', 'shared PDB (/Zi, /ZI)'],
    ['clang-cl /c a.c -ZI', 'shared PDB (/Zi, /ZI)'],
    ['clang-cl /c a.cpp /Ycpch.h', 'precompiled header'],
    ['clang-cl /c a.cpp /Yupch.h /Fppch.pch', 'precompiled header'],
    ['clang-cl /c a.c /E', '/E, /EP or /P only preprocess'],
    ['clang-cl /c a.c /P', '/E, /EP or /P only preprocess'],
    ['clang-cl /c a.c /EP', '/E, /EP or /P only preprocess'],
    ['clang-cl /c a.c /Zs', 'writes no object'],
    ['clang-cl /c a.c /FA /Faa.asm', 'writes extra output files'],
    ['clang-cl /c a.c b.c', 'several source files'],
    ['clang-cl /c a.c old.obj', 'linker inputs with -c'],
    [
      'clang-cl /c a.asm',
      'language of this file is not distributed (clang-cl compiles .c and .cpp, or /Tc, /Tp)',
    ],
    ['clang-cl /c', 'no input file'],
    ['clang-cl /c a.c /I', 'missing option value'],
    ['clang-cl /c a.c -Xclang -load -Xclang p.so', 'compiler plugin'],
    ['clang-cl /c a.c -fprofile-instr-generate', 'profiling or coverage'],
    ['clang-cl /c a.c /clang:-march=native', "tuned for this machine's CPU"],
    ['clang-cl /c a.c @missing.rsp', 'unreadable response file'],
    ['cl /c a.c', 'MSVC cl.exe (use clang-cl)'],
  ];
  for (const [cmd, reason] of cases)
    it(`${cmd} → ${reason}`, () => {
      const p = plan(cmd);
      assert.equal(p.distributable, false, describePlan(p));
      assert.equal((p as { reason: string }).reason, reason);
    });
});

describe('clang-cl: the two command lines', () => {
  it('splits /I to the preprocessing, /D /U and code generation to both, /link to neither', () => {
    const p = remote(
      'clang-cl /nologo /c /Iinc -Iother /DA=1 /UB /O2 /MD /EHsc /std:c++17 b.cpp /link /DEBUG',
    );
    assert.equal(p.family, 'clang-cl');
    assert.equal(p.lang, 'c++');
    assert.equal(p.output, '/w/b.obj');
    assert.deepEqual(
      p.preprocessArgv,
      w(
        'clang-cl /nologo /Iinc -Iother /DA=1 /UB /O2 /MD /EHsc /std:c++17 /Tp b.cpp /E -Xclang -frewrite-includes',
      ),
    );
    assert.deepEqual(
      p.compileArgv,
      w('clang-cl /nologo /DA=1 /UB /O2 /MD /EHsc /std:c++17 /c /Tp b.cpp /Foout.o'),
    );
  });
  it('takes - and / forms, and separate values', () => {
    const p = remote('clang-cl-14.exe -c -I inc -D A=1 /D B -Tc x.src -o out\\x.obj');
    assert.equal(p.lang, 'c');
    assert.deepEqual(p.compileArgv, w('clang-cl-14 -D A=1 /D B /c /Tc x.src /Foout.o'));
    assert.equal(p.output, resolve('/w', 'out\\x.obj'));
  });
  it('/Fo with a directory names the object after the source', () => {
    assert.equal(remote('clang-cl /c src/a.c /Foobj/').output, '/w/obj/a.obj');
    assert.equal(remote('clang-cl /c src/a.c /Foa.o').output, '/w/a.o');
    assert.equal(remote('clang-cl /c /TP src/a.c').lang, 'c++');
  });
  it('/showIncludes is the preprocessing’s, /FI only there, /Z7 passes the search options for the recorded command line', () => {
    const p = remote('clang-cl /c /showIncludes /FIpre.h /Iinc /Z7 a.c');
    assert.equal(p.showIncludes, true);
    assert.equal(p.debug, true);
    assert.deepEqual(p.compileArgv, w('clang-cl /Iinc /Z7 /c /Tc a.c /Foout.o'));
  });
  it('/Users/x is /U (as clang-cl reads it), an unknown /x/y is a file, /O2 is an option', () => {
    assert.equal((plan('clang-cl /c /Users/me/a.c') as { reason: string }).reason, 'no input file');
    assert.equal(remote('clang-cl /c /O2 /home/me/a.c').source, '/home/me/a.c');
  });
  it('response files: Windows splitting, UTF-16, nested names relative to the working directory', () => {
    files['/w/args.rsp'] = '/DA="x y" /Iinc\r\n@sub.rsp';
    files['/w/sub.rsp'] = '/Fo"out dir\\\\" a.c';
    const p = remote('clang-cl /c @args.rsp');
    assert.deepEqual(p.preprocessArgv, [
      'clang-cl',
      '/DA=x y',
      '/Iinc',
      '/Tc',
      'a.c',
      '/E',
      '-Xclang',
      '-frewrite-includes',
    ]);
    assert.equal(p.output, resolve('/w', 'out dir\\a.obj'));
  });
});

describe('the target the remote compile names', () => {
  it('is cc1’s -triple, with clang-cl’s MSVC version apart; none when the driver says nothing', () => {
    assert.deepEqual(
      targetArgs(' "/usr/bin/clang" "-cc1" "-triple" "arm64-apple-macosx14.0.0" "-emit-obj"'),
      ['--target=arm64-apple-macosx14.0.0'],
    );
    assert.deepEqual(
      targetArgs(
        '"-cc1" "-triple" "x86_64-pc-windows-msvc19.33.31630" "-fms-compatibility-version=19.33.31630"',
      ),
      ['--target=x86_64-pc-windows-msvc', '-fms-compatibility-version=19.33.31630'],
    );
    assert.deepEqual(targetArgs('clang: error: no input files'), []);
  });
  it('is matched against a preset’s targets by architecture, OS and environment, not vendor or versions', () => {
    const published = ['x86_64-pc-windows-msvc', 'arm64-apple-macos11', 'aarch64-linux-gnu'];
    for (const t of [
      'x86_64-pc-windows-msvc19.20.0',
      'arm64-apple-macosx14.0.0',
      'aarch64-unknown-linux-gnu',
    ])
      assert.ok(targetsInclude(published, t), t);
    for (const t of [
      'i686-pc-windows-msvc',
      'x86_64-apple-macosx14.0.0',
      'x86_64-pc-linux-gnu',
      'aarch64-pc-windows-msvc',
    ])
      assert.ok(!targetsInclude(published, t), t);
    assert.equal(namedTarget(w('clang -target arm64-apple-ios -c a.c')), 'arm64-apple-ios');
    assert.equal(
      namedTarget(w('clang-cl /clang:--target=x86_64-pc-windows-msvc /c a.c')),
      'x86_64-pc-windows-msvc',
    );
    assert.equal(namedTarget(w('clang -c a.c')), null);
  });
  it('goes after the compiler, unless the command line names a target', () => {
    assert.deepEqual(withTarget(w('clang -O2 -c a.c'), ['--target=x']), w('clang --target=x -O2 -c a.c'));
    assert.deepEqual(withTarget(w('clang -target y -c a.c'), ['--target=x']), w('clang -target y -c a.c'));
    assert.deepEqual(
      withTarget(w('clang-cl /clang:--target=y /c a.c'), ['--target=x']),
      w('clang-cl /clang:--target=y /c a.c'),
    );
  });
});

describe('Windows response-file rules', () => {
  const cases: [string, string[]][] = [
    ['a b\tc\r\nd', ['a', 'b', 'c', 'd']],
    ['"a b" c', ['a b', 'c']],
    ['a\\b\\c', ['a\\b\\c']],
    ['"C:\\dir\\\\" x', ['C:\\dir\\', 'x']],
    ['a\\"b', ['a"b']],
    ['"a""b"', ['a"b']],
    ["'a b'", ["'a", "b'"]],
    ['/D"X=\\"q\\""', ['/DX="q"']],
    ['', []],
  ];
  for (const [text, want] of cases)
    it(JSON.stringify(text), () => assert.deepEqual(splitWindowsResponseFile(text), want));
  it('decodes UTF-16 with a byte-order mark, and UTF-8 with one', () => {
    assert.equal(
      decodeResponseFile(Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('/Dé a.c', 'utf16le')])),
      '/Dé a.c',
    );
    assert.equal(decodeResponseFile(Buffer.from('\ufeff/c', 'utf8')), '/c');
  });
});

describe('a Windows client’s paths in the remote layout', () => {
  const win = { pathRules: path.win32 };
  const text = [
    '# 1 "C:\\\\Users\\\\Me\\\\Proj\\\\src\\\\a.c"',
    '# 1 "c:\\\\users\\\\me\\\\proj\\\\inc\\\\h.h" 1',
    '# 1 "C:\\\\Program Files\\\\LLVM\\\\lib\\\\clang\\\\14\\\\include\\\\stddef.h" 1',
    '# 1 "inc\\\\rel.h" 1',
    '# 1 "\\\\\\\\server\\\\share\\\\lib.h" 1',
    'int x;',
  ].join('\n');
  const root = layoutRoot(
    'C:\\Users\\Me\\Proj\\build',
    'C:\\Users\\me\\proj\\src\\a.c',
    [],
    null,
    win.pathRules,
  );
  it('the root is the common directory, whatever the case of its letters', () => {
    assert.equal(root.toLowerCase(), 'c:\\users\\me\\proj');
    assert.deepEqual(markerPaths(text, win.pathRules), [
      'C:\\Users\\Me\\Proj\\src\\a.c',
      'c:\\users\\me\\proj\\inc\\h.h',
      'C:\\Program Files\\LLVM\\lib\\clang\\14\\include\\stddef.h',
      '\\\\server\\share\\lib.h',
    ]);
  });
  it('maps paths under it to /job/kiln with /, keeps the others, and names the source for the builder', () => {
    const argv = w('clang-cl /c /Tc ..\\src\\a.c /Foout.o');
    const l = layOut(
      'fixed',
      root,
      'C:\\Users\\Me\\Proj\\build',
      'C:\\Users\\Me\\Proj\\src\\a.c',
      '..\\src\\a.c',
      text,
      argv,
      '/job',
      win,
    )!;
    assert.equal(l.cwd, 'kiln/build');
    assert.equal(l.sourcePath, 'kiln/src/a.c');
    assert.deepEqual(l.argv, w('clang-cl /c /Tc ../src/a.c /Foout.o'));
    assert.deepEqual(l.text.toString('latin1').split('\n').slice(0, 5), [
      '# 1 "/job/kiln/src/a.c"',
      '# 1 "/job/kiln/inc/h.h" 1',
      '# 1 "C:\\\\Program Files\\\\LLVM\\\\lib\\\\clang\\\\14\\\\include\\\\stddef.h" 1',
      '# 1 "inc\\\\rel.h" 1',
      '# 1 "\\\\\\\\server\\\\share\\\\lib.h" 1',
    ]);
    const other = layOut(
      'fixed',
      'D:\\ci\\proj',
      'D:\\ci\\proj\\build',
      'D:\\ci\\proj\\src\\a.c',
      '..\\src\\a.c',
      text
        .replaceAll('C:\\\\Users\\\\Me\\\\Proj', 'D:\\\\ci\\\\proj')
        .replaceAll('c:\\\\users\\\\me\\\\proj', 'd:\\\\CI\\\\proj'),
      argv,
      '/job',
      win,
    )!;
    assert.deepEqual(other.text, l.text, 'another checkout sends the same text');
  });
  it('an absolute source and a UNC root', () => {
    const unc = '\\\\build\\share\\proj';
    const l = layOut(
      'fixed',
      unc,
      unc,
      `${unc}\\a.c`,
      `${unc}\\a.c`,
      '# 1 "\\\\\\\\BUILD\\\\share\\\\proj\\\\a.c"\n',
      w(`clang-cl /c /Tc ${unc}\\a.c /Foout.o`),
      '/job',
      win,
    )!;
    assert.deepEqual(l.argv, w('clang-cl /c /Tc /job/kiln/a.c /Foout.o'));
    assert.equal(l.text.toString(), '# 1 "/job/kiln/a.c"\n');
    assert.equal(layOut('fixed', 'C:\\a"b', 'C:\\a"b', 'C:\\a"b\\x.c', 'x.c', '', [], '/job', win), null);
  });
});

// ---------------------------------------------------------------------------------------------
// Against the real clang-cl

const CLANG_CL = ['clang-cl', 'clang-cl-14', '/usr/lib/llvm-14/bin/clang-cl'].find(
  (c) => spawnSync(c, ['--version']).status === 0,
);

describe(
  'clang-cl plans against the real clang-cl',
  { skip: CLANG_CL ? false : 'clang-cl is not installed (Debian: clang-tools-14)' },
  () => {
    let dir: string;
    before(() => {
      dir = mkdtempSync(join(tmpdir(), 'kiln-cl-'));
      mkdirSync(join(dir, 'inc'));
      mkdirSync(join(dir, 'obj'));
      writeFileSync(join(dir, 'inc', 'h1.h'), '#pragma once\n#include "h2.h"\n#define TWICE(x) ((x) * 2)\n');
      writeFileSync(join(dir, 'inc', 'h2.h'), '#ifndef H2\n#define H2\ntypedef int myint;\n#endif\n');
      writeFileSync(join(dir, 'pre.h'), '#define PRE 7\n');
      writeFileSync(
        join(dir, 'a.c'),
        '#include "h1.h"\n#include "h2.h"\n/* fall through */\n#if defined(_MSC_VER) && _MSC_VER >= 1900\nmyint f(myint x) { return TWICE(x) + VAL + PRE; }\n#endif\n',
      );
      writeFileSync(
        join(dir, 'b.cpp'),
        '#include <h1.h>\ntemplate <class T> struct S { T v; T get() const { return TWICE(v); } };\nint g() { return S<int>{21}.get(); }\n',
      );
      writeFileSync(join(dir, 'flags.rsp'), '/Iinc "/DVAL=3"\r\n/FIpre.h\r\n');
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    /**
     * The object's CodeView as llvm-readobj prints it, without the main file's MD5: the builder
     * compiles rewritten text under the source's name, so it has no checksum of the source itself.
     */
    const codeview = (o: Buffer): string => {
      const f = join(dir, 'cv.obj');
      writeFileSync(f, o);
      const out = spawnSync('llvm-readobj', ['--codeview', f]).stdout.toString();
      return out
        .split('\n')
        .filter((l) => !/^File:|Checksum|SubSectionSize/.test(l.trim()))
        .join('\n');
    };
    /** The object without COFF's TimeDateStamp (bytes 4–7), which clang-cl sets unless /Brepro. */
    const noStamp = (o: Buffer): Buffer => Buffer.concat([o.subarray(0, 4), o.subarray(8)]);

    const cmds = [
      '/c /Brepro /showIncludes @flags.rsp a.c /Foobj/',
      '-c /Brepro /showIncludes:user -Iinc /DVAL=3 /FIpre.h /O2 /GS- a.c -o obj/a.obj',
      // /Z7 records the compile's command line in the object; a /FI there would be missing remotely
      '/c /Brepro /Z7 /Iinc /DVAL=3 /DPRE=7 a.c /Foobj/a.obj',
      '/c /showIncludes /Iinc /EHsc /std:c++17 /TP b.cpp /Foobj/b.obj',
    ];
    for (const args of cmds)
      it(`clang-cl ${args}`, async () => {
        const argv = [CLANG_CL!, ...w(args)];
        const local = spawnSync(argv[0]!, argv.slice(1), { cwd: dir });
        const p = analyzeCompile(argv, { cwd: dir });
        assert.ok(p.distributable, describePlan(p));
        const want = readFileSync(p.output);
        rmSync(p.output);

        const pre = spawnSync(p.preprocessArgv[0]!, p.preprocessArgv.slice(1), {
          cwd: dir,
          maxBuffer: 64 << 20,
        });
        assert.equal(pre.status, 0, pre.stderr.toString());
        const text = pre.stdout.toString('latin1');
        const shown = pre.stderr.toString('latin1');
        assert.match(
          shown,
          p.showIncludes ? /^(Note: including file: +\S.*\n)+$/ : /^$/,
          'the preprocessing prints only /showIncludes lines',
        );
        const triple = await localTarget(argv, dir, process.env);
        assert.deepEqual(triple, ['--target=x86_64-pc-windows-msvc', '-fms-compatibility-version=19.20']);
        const compileArgv = withTarget(p.compileArgv, triple);
        const source = resolve(dir, p.sourceArg);
        const root = layoutRoot(dir, source, markerPaths(text), null);
        const job = mkdtempSync(join(tmpdir(), 'kiln-cl-builder-'));
        try {
          const kind = p.debug ? 'mapped' : 'fixed';
          const l = layOut(kind, root, dir, source, p.sourceArg, text, compileArgv, job, {
            clObject: p.output,
          })!;
          mkdirSync(dirname(join(job, l.sourcePath)), { recursive: true });
          writeFileSync(join(job, l.sourcePath), l.text);
          const comp = spawnSync(l.argv[0]!, l.argv.slice(1), { cwd: join(job, l.cwd) });
          assert.equal(comp.status, local.status);
          assert.equal(shown + comp.stdout.toString('latin1'), local.stdout.toString('latin1'), 'stdout');
          assert.equal(comp.stderr.toString(), local.stderr.toString(), 'stderr');
          assert.equal(local.stderr.length, 0);
          const obj = readFileSync(join(job, l.output));
          assert.equal(namesRemoteRoot(obj, l), false);
          if (p.debug) assert.equal(codeview(obj), codeview(want), 'CodeView but the main file’s MD5');
          else if (args.includes('/Brepro')) assert.deepEqual(obj, want, 'object bytes');
          else assert.deepEqual(noStamp(obj), noStamp(want), 'object bytes but the time stamp');
        } finally {
          rmSync(job, { recursive: true, force: true });
        }
      });
  },
);
