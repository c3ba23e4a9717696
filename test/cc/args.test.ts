/**
 * `kiln cc` command-line analysis. The depfile and object decisions are checked against the real
 * gcc: each command runs once as is, then as the plan says (local `-E`, "remote" compile of the
 * preprocessed text in another directory), and both runs must leave the same files, byte for byte.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import {
  analyzeCompile,
  describePlan,
  splitResponseFile,
  stripSuffix,
  type CompilePlan,
  type LocalPlan,
  type RemotePlan,
} from '../../client/cc/args.ts';
import {
  hasUserMaps,
  layOut,
  layoutRoot,
  markerPaths,
  namesRemoteRoot,
  stripGccPreamble,
  type LayoutKind,
} from '../../client/cc/remote-layout.ts';
import { cppText } from '../../client/cc/cpp-text.ts';

const CWD = '/w';
/** A command line split at spaces (the unit cases have no spaces inside arguments). */
const w = (cmd: string): string[] => cmd.split(' ');
function noFiles(p: string): string {
  throw Object.assign(new Error(`ENOENT: ${p}`), { code: 'ENOENT' });
}
const plan = (cmd: string): CompilePlan => analyzeCompile(w(cmd), { cwd: CWD, readFile: noFiles });
function remote(cmd: string): RemotePlan {
  const p = plan(cmd);
  assert.ok(p.distributable, `expected distributable: ${cmd} → ${describePlan(p)}`);
  return p;
}

describe('what runs locally, and why', () => {
  const cases: [string, string][] = [
    ['gcc a.o b.o -o app', 'linking (no -c)'],
    ['gcc a.c', 'linking (no -c)'],
    ['gcc -E a.c', '-E only preprocesses'],
    ['gcc -c -E a.c', '-E only preprocesses'],
    ['gcc -S a.c', '-S writes assembly'],
    ['gcc -c -S a.c', '-S writes assembly'],
    ['gcc -M a.c', '-M/-MM write only dependencies'],
    ['gcc -c -MM a.c', '-M/-MM write only dependencies'],
    ['gcc -c', 'no input file'],
    ['gcc -c a.c b.c', 'several source files'],
    ['gcc -c a.c b.cpp -o x.o', 'several source files'],
    ['gcc -c a.c old.o', 'linker inputs with -c'],
    ['gcc -c -x c -', 'reads the source from stdin'],
    ['gcc -c a.c -o -', 'writes the object to stdout'],
    ['gcc -c a.c -o /dev/null', 'the output is not a regular file'],
    ['gcc -c a.c -o x.o -o y.o', 'several -o options'],
    ['gcc -c a.c -o', 'missing option value'],
    ['gcc -c a.c -I', 'missing option value'],
    ['gcc -c a.h', 'precompiled header'],
    ['g++ -c a.hpp -o a.hpp.gch', 'precompiled header'],
    ['gcc -c -x c-header a.txt', 'precompiled header'],
    ['gcc -c a.c -o a.h.gch', 'precompiled header'],
    ['clang -c a.c -include-pch p.pch', 'precompiled header'],
    ['gcc -c a.i', 'input is already preprocessed'],
    ['g++ -c -x c++-cpp-output a.x', 'input is already preprocessed'],
    ['gcc -c -fpreprocessed a.c', 'input is already preprocessed'],
    ['gcc -c a.s', 'assembly is assembled locally'],
    ['gcc -c a.S', 'assembly is assembled locally'],
    ['gcc -c -x assembler-with-cpp a.asm', 'assembly is assembled locally'],
    ['gcc -c a.f90', "language 'fortran' is not distributed"],
    ['clang -c k.cu', "language 'cuda' is not distributed"],
    ['gcc -c -march=native a.c', "tuned for this machine's CPU"],
    ['gcc -c -mtune=native a.c', "tuned for this machine's CPU"],
    ['gcc -c --coverage a.c', 'profiling or coverage'],
    ['gcc -c -fprofile-generate a.c', 'profiling or coverage'],
    ['gcc -c -fprofile-use=prof a.c', 'profiling or coverage'],
    ['gcc -c -fprofile-arcs -ftest-coverage a.c', 'profiling or coverage'],
    ['clang -c -fprofile-instr-generate -fcoverage-mapping a.c', 'profiling or coverage'],
    ['gcc -c -fplugin=./p.so a.c', 'compiler plugin'],
    ['clang -c -Xclang -load -Xclang p.so a.c', 'compiler plugin'],
    ['gcc -c -save-temps a.c', '-save-temps writes intermediate files'],
    ['gcc -c -save-temps=obj a.c', '-save-temps writes intermediate files'],
    ['gcc -c -specs=my.specs a.c', 'uses local helper programs or specs'],
    ['gcc -c -B /opt/bin a.c', 'uses local helper programs or specs'],
    ['gcc -c -B/opt/bin/ a.c', 'uses local helper programs or specs'],
    ['gcc -c -gsplit-dwarf a.c', 'writes extra output files'],
    ['gcc -c -fstack-usage a.c', 'writes extra output files'],
    ['gcc -c -fdump-tree-all a.c', 'writes extra output files'],
    ['gcc -c -fopt-info-vec=vec.txt a.c', 'writes extra output files'],
    ['clang -c -MJ a.json a.c', 'writes extra output files'],
    ['clang -c -ftime-trace a.c', 'writes extra output files'],
    ['clang -c -fsanitize=address -fsanitize-ignorelist=ign.txt a.c', 'reads a local file while compiling'],
    ['clang++ -c -fmodules a.cpp', 'C++ or clang modules'],
    ['g++ -c -fmodules-ts a.cpp', 'C++ or clang modules'],
    ['gcc -c -fsyntax-only a.c', 'writes no object'],
    ['clang -c -emit-llvm a.c', 'writes no object'],
    ['gcc -c -v a.c', 'prints information instead of compiling'],
    ['gcc -c -C a.c', '-C/-CC need -E'],
    ['gcc -c -traditional-cpp a.c', 'traditional preprocessing'],
    ['gcc -c -dD a.c', 'compiler dump options'],
    ['gcc -c -MD -MG a.c', '-MG needs -M or -MM'],
    ['gcc -c -MF a.d a.c', 'dependency options without -MD or -MMD'],
    ['gcc -c -MD -Wp,-MD,x.d a.c', 'several dependency options'],
    ['gcc -c -Wp,-MF,x.d a.c', 'unsupported -Wp dependency option'],
    ['clang -c -arch x86_64 -arch arm64 a.c', 'several -arch (universal binary)'],
    ['cl /c a.c', 'MSVC cl.exe (use clang-cl)'],
    ['gfortran -c a.f90', 'not a gcc or clang driver'],
    ['distcc gcc -c a.c', 'not a gcc or clang driver'],
    ['gcc -c @missing.rsp', 'unreadable response file'],
    ['clang -c --config=my.cfg a.c', 'clang config file or working directory'],
  ];
  for (const [cmd, reason] of cases) {
    it(`${cmd} → ${reason}`, () => {
      const p = plan(cmd);
      assert.equal(p.distributable, false);
      assert.equal(p.reason, reason);
    });
  }

  it('names the argument that decided it', () => {
    const p = plan('gcc -c -fplugin=./p.so a.c');
    assert.ok(!p.distributable);
    assert.equal(p.detail, '-fplugin=./p.so');
    assert.equal(describePlan(p), 'kiln cc: compiling locally: compiler plugin (-fplugin=./p.so)');
  });

  it('no compiler at all', () => {
    assert.equal(analyzeCompile([], { cwd: CWD }).distributable, false);
  });
});

describe('distributable compiles', () => {
  it('splits a typical make compile into a local -E run and a remote compile', () => {
    const p = remote(
      'gcc -O2 -g -Wall -Iinc -isystem sys -DX=1 -UY -include cfg.h -fPIC -std=c11 -MMD -MP' +
        ' -c src/a.c -o obj/a.o -lm -Wl,-z,now -Wa,--noexecstack',
    );
    assert.equal(p.lang, 'c');
    assert.equal(p.family, 'gcc');
    assert.equal(p.source, '/w/src/a.c');
    assert.equal(p.output, '/w/obj/a.o');
    assert.equal(p.depfile, '/w/obj/a.d');
    assert.deepEqual(
      p.preprocessArgv,
      w(
        'gcc -O2 -g -Wall -Iinc -isystem sys -DX=1 -UY -include cfg.h -fPIC -std=c11 -MMD -MP src/a.c' +
          ' -lm -Wl,-z,now -E -fdirectives-only -MF obj/a.d -MQ obj/a.o',
      ),
    );
    assert.deepEqual(
      p.compileArgv,
      w('gcc -O2 -g -Wall -fPIC -std=c11 -Wa,--noexecstack -nostdinc -x c -c src/a.c -o out.o'),
    );
    assert.equal(p.sourceArg, 'src/a.c');
    assert.equal(p.cppMode, '-fdirectives-only');
    assert.equal(p.debug, true);
    const dropped = Object.fromEntries(p.dropped.map((d) => [d.arg, d.from]));
    assert.deepEqual(dropped, {
      '-Iinc': 'compile',
      '-isystem sys': 'compile',
      '-DX=1': 'compile',
      '-UY': 'compile',
      '-include cfg.h': 'compile',
      '-MMD': 'compile',
      '-MP': 'compile',
      '-lm': 'compile',
      '-Wl,-z,now': 'compile',
      '-Wa,--noexecstack': 'preprocess',
    });
    const text = describePlan(p);
    assert.match(text, /^kiln cc: distributing c compile of \/w\/src\/a\.c$/m);
    assert.match(
      text,
      /^ {2}compile {5}gcc -O2 -g -Wall -fPIC -std=c11 -Wa,--noexecstack -nostdinc -x c -c src\/a\.c/m,
    );
    assert.match(text, /^ {2}dropped {5}-lm from compile: linker option, unused with -c$/m);
  });

  it('the default object is <stem>.o in the working directory, like gcc', () => {
    assert.equal(remote('gcc -c src/dir.v2/a.b.c').output, '/w/a.b.o');
    assert.equal(remote('gcc -c -x c src/noext').output, '/w/noext.o');
    assert.equal(remote('gcc -c /abs/x.cpp').output, '/w/x.o');
  });

  it('joined option values: -oFILE, -xLANG, -MFfile, -Ipath, -DX', () => {
    const p = remote('gcc -xc++ -c a.inl -oobj/a.o -MD -MFdeps/a.d -MTtgt -Iinc -DX');
    assert.equal(p.lang, 'c++');
    assert.equal(p.output, '/w/obj/a.o');
    assert.equal(p.depfile, '/w/deps/a.d');
    assert.deepEqual(
      p.preprocessArgv,
      w('gcc -xc++ a.inl -MD -MFdeps/a.d -MTtgt -Iinc -DX -E -fdirectives-only'),
    );
    assert.deepEqual(p.compileArgv, w('gcc -nostdinc -x c++ -c a.inl -o out.o'));
  });

  it('-x none goes back to extensions; -x applies only to later files', () => {
    assert.equal(remote('gcc -c -x c++ -x none a.c').lang, 'c');
    assert.equal(remote('gcc -c a.c -x c++').lang, 'c');
    assert.equal(remote('gcc -c -x c++ a.c').lang, 'c++');
  });

  it('C++ drivers compile .c (and .i, .h) as C++', () => {
    for (const cc of [
      'g++',
      'c++',
      'clang++',
      'clang++-17',
      'x86_64-linux-gnu-g++-12',
      'C:\\mingw\\g++.exe',
    ]) {
      const p = remote(`${cc} -c a.c`);
      assert.equal(p.lang, 'c++', cc);
    }
    assert.equal(remote('gcc -c a.c').lang, 'c');
    assert.equal((plan('g++ -c a.i') as LocalPlan).reason, 'input is already preprocessed');
    assert.equal((plan('g++ -c a.h') as LocalPlan).reason, 'precompiled header');
  });

  it('C++ and Objective-C(++) by extension', () => {
    for (const ext of ['cc', 'cp', 'cxx', 'cpp', 'CPP', 'c++', 'C'])
      assert.equal(remote(`gcc -c a.${ext}`).lang, 'c++');
    const m = remote('clang -c a.m');
    assert.equal(m.lang, 'objective-c');
    assert.deepEqual(m.compileArgv, w('clang -x objective-c -c a.m -o out.o'));
    const mm = remote('clang -c a.mm');
    assert.equal(mm.lang, 'objective-c++');
    assert.deepEqual(mm.compileArgv, w('clang -x objective-c++ -c a.mm -o out.o'));
    assert.equal(remote('gcc -c a.M').lang, 'objective-c++');
  });

  it('debug path mapping, --target and code generation flags reach the compile', () => {
    const flags =
      '--target=aarch64-linux-gnu -target aarch64-linux-gnu -g3 -gdwarf-4 -fdebug-prefix-map=/w=.' +
      ' -ffile-prefix-map=/w=. -mllvm -inline-threshold=5 -Xclang -fno-pch-timestamp' +
      ' --param max-inline-insns-single=10 -O3 -flto=thin';
    const p = remote(`clang ${flags} -fmacro-prefix-map=/w=. -c a.c`);
    assert.deepEqual(p.compileArgv, w(`clang ${flags} -fmacro-prefix-map=/w=. -x c -c a.c -o out.o`));
    assert.deepEqual(p.preprocessArgv, w(`clang ${flags} -fmacro-prefix-map=/w=. a.c -E -frewrite-includes`));
  });

  it('-g (not -g0) marks a compile whose object names its directories', () => {
    assert.equal(remote('clang -g -c a.c').debug, true);
    assert.equal(remote('clang -g0 -c a.c').debug, false);
    assert.equal(remote('clang -gline-tables-only -c a.c').debug, true);
    assert.equal(remote('gcc -O2 -c a.c').debug, false);
  });

  it('clang keeps #if blocks in its text, so macro options reach its compile too', () => {
    const p = remote('clang -DA=1 -UB -undef -Iinc -include x.h -c a.c');
    assert.deepEqual(p.compileArgv, w('clang -DA=1 -UB -undef -x c -c a.c -o out.o'));
    assert.deepEqual(
      p.preprocessArgv,
      w('clang -DA=1 -UB -undef -Iinc -include x.h a.c -E -frewrite-includes'),
    );
    assert.equal(
      (plan('clang -imacros m.h -c a.c') as LocalPlan).reason,
      'clang -imacros (its macros are not in the rewritten text)',
    );
    assert.deepEqual(remote('gcc -DA=1 -c a.c').compileArgv, w('gcc -nostdinc -x c -c a.c -o out.o'));
  });

  it('--sysroot and -isysroot steer only the local preprocessing', () => {
    const p = remote('gcc --sysroot=/opt/sr -isysroot /opt/sdk --sysroot /opt/sr2 -c a.c');
    assert.deepEqual(
      p.preprocessArgv,
      w('gcc --sysroot=/opt/sr -isysroot /opt/sdk --sysroot /opt/sr2 a.c -E -fdirectives-only'),
    );
    assert.deepEqual(p.compileArgv, w('gcc -nostdinc -x c -c a.c -o out.o'));
  });

  it('-P only changes -E output, so it is dropped; one -arch is kept', () => {
    const p = remote('clang -arch arm64 -P -c a.c');
    assert.deepEqual(p.preprocessArgv, w('clang -arch arm64 a.c -E -frewrite-includes'));
    assert.deepEqual(p.compileArgv, w('clang -arch arm64 -x c -c a.c -o out.o'));
  });

  it('unknown -M options stay with the preprocessor, unknown others reach both', () => {
    const p = remote('gcc -Mno-modules -fnew-thing -c a.c');
    assert.deepEqual(p.preprocessArgv, w('gcc -Mno-modules -fnew-thing a.c -E -fdirectives-only'));
    assert.deepEqual(p.compileArgv, w('gcc -fnew-thing -nostdinc -x c -c a.c -o out.o'));
  });
});

describe('depfiles (the decisions; the real gcc check is below)', () => {
  it('-MD: <output stem>.d and the object as target, or <source stem>.d without -o', () => {
    const p = remote('gcc -MD -c src/a.c');
    assert.equal(p.depfile, '/w/a.d');
    assert.deepEqual(p.preprocessArgv, w('gcc -MD src/a.c -E -fdirectives-only -MF a.d'));
    const q = remote('gcc -MD -c src/a.c -o obj.dir/b');
    assert.equal(q.depfile, '/w/obj.dir/b.d');
    assert.deepEqual(
      q.preprocessArgv,
      w('gcc -MD src/a.c -E -fdirectives-only -MF obj.dir/b.d -MQ obj.dir/b'),
    );
  });

  it('a given -MF, -MT or -MQ is kept and not doubled', () => {
    const p = remote('gcc -MMD -MF x.dep -MT t -c a.c -o a.o');
    assert.equal(p.depfile, '/w/x.dep');
    assert.deepEqual(p.preprocessArgv, w('gcc -MMD -MF x.dep -MT t a.c -E -fdirectives-only'));
    const q = remote('gcc -MMD -MF x.dep -c a.c -o a.o');
    assert.deepEqual(q.preprocessArgv, w('gcc -MMD -MF x.dep a.c -E -fdirectives-only -MQ a.o'));
  });

  it('-Wp,-MD,file (kbuild): gcc keeps its own target; clang targets the -o path', () => {
    const g = remote('gcc -Wp,-MMD,dir/.a.o.d -c -o dir/a.o dir/a.c');
    assert.equal(g.depfile, '/w/dir/.a.o.d');
    assert.deepEqual(g.preprocessArgv, w('gcc -Wp,-MMD,dir/.a.o.d dir/a.c -E -fdirectives-only'));
    const c = remote('clang -Wp,-MD,dir/.a.o.d -c -o dir/a.o dir/a.c');
    assert.deepEqual(
      c.preprocessArgv,
      w('clang -Wp,-MD,dir/.a.o.d dir/a.c -E -frewrite-includes -MQ dir/a.o'),
    );
    assert.deepEqual(
      remote('clang -Wp,-MD,x.d -MT t -c -o a.o a.c').preprocessArgv,
      w('clang -Wp,-MD,x.d -MT t a.c -E -frewrite-includes'),
    );
  });

  it('no dependency flags: no depfile', () => {
    assert.equal(remote('gcc -c a.c').depfile, null);
  });
});

describe('response files', () => {
  it('splits like gcc: whitespace, quotes, backslashes', () => {
    assert.deepEqual(splitResponseFile('  -c\ta.c\n-o "obj dir/a.o"  '), ['-c', 'a.c', '-o', 'obj dir/a.o']);
    assert.deepEqual(splitResponseFile(`'-DS="a b"' -DT=x\\ y "q\\"d" ''`), [
      '-DS="a b"',
      '-DT=x y',
      'q"d',
      '',
    ]);
    assert.deepEqual(splitResponseFile('a\'b\'c"d"e'), ['abcde']);
    assert.deepEqual(splitResponseFile(' \n\t '), []);
    assert.deepEqual(splitResponseFile(''), []);
    assert.deepEqual(splitResponseFile('C:\\\\dir\\\\a.c'), ['C:\\dir\\a.c']);
  });

  it('expands recursively, names relative to the working directory', () => {
    const files: Record<string, string> = {
      '/w/one.rsp': '-c @sub/two.rsp -o "o ut.o"',
      '/w/sub/two.rsp': '-DA=1 src/a.c',
    };
    const read = (p: string): string => {
      const t = files[p];
      if (t === undefined) throw new Error('ENOENT');
      return t;
    };
    const p = analyzeCompile(['gcc', '@one.rsp', '-O2'], { cwd: '/w', readFile: read });
    assert.ok(p.distributable);
    assert.deepEqual(p.preprocessArgv, ['gcc', '-DA=1', 'src/a.c', '-O2', '-E', '-fdirectives-only']);
    assert.equal(p.output, '/w/o ut.o');
  });

  it('stops a self-including response file', () => {
    const p = analyzeCompile(['gcc', '@loop.rsp'], { cwd: '/w', readFile: () => '-c a.c @loop.rsp' });
    assert.equal(p.distributable, false);
  });
});

describe('compilers', () => {
  it('guesses the family from the name, or takes it', () => {
    assert.equal(remote('clang-17 -c a.c').family, 'clang');
    assert.equal(remote('x86_64-linux-gnu-gcc-12 -c a.c').family, 'gcc');
    assert.equal(analyzeCompile(['cc', '-c', 'a.c'], { cwd: CWD, family: 'clang' }).distributable, true);
    const p = analyzeCompile(['/usr/bin/cc', '-c', 'a.c'], { cwd: CWD, family: 'clang' });
    assert.ok(p.distributable && p.family === 'clang' && p.compileArgv[0] === 'cc');
  });

  it('stripSuffix drops the last suffix of the file name only', () => {
    assert.equal(stripSuffix('obj/a.o'), 'obj/a');
    assert.equal(stripSuffix('obj.dir/b'), 'obj.dir/b');
    assert.equal(stripSuffix('a.b.c'), 'a.b');
    assert.equal(stripSuffix('x'), 'x');
  });
});

// ---------------------------------------------------------------------------------------------
// Against the real gcc

const hasGcc = spawnSync('gcc', ['--version']).status === 0 && spawnSync('g++', ['--version']).status === 0;

/** Every file under `dir`, by relative path. */
function snapshot(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.set(relative(dir, p), readFileSync(p));
    }
  };
  walk(dir);
  return out;
}

/** Runs `fn` in `dir` and returns the files it created (which are then removed again). */
function created(dir: string, fn: () => void): Map<string, Buffer> {
  const before = snapshot(dir);
  fn();
  const made = new Map([...snapshot(dir)].filter(([k]) => !before.has(k)));
  for (const k of made.keys()) rmSync(join(dir, k));
  return made;
}

function run(argv: string[], cwd: string): Buffer {
  const r = spawnSync(argv[0]!, argv.slice(1), { cwd, maxBuffer: 64 << 20 });
  assert.equal(r.status, 0, `${argv.join(' ')} failed:\n${r.stderr.toString()}`);
  return r.stdout;
}

/** The object without its debug sections. */
function stripDebug(object: Buffer): Buffer {
  const d = mkdtempSync(join(tmpdir(), 'kiln-cc-strip-'));
  try {
    writeFileSync(join(d, 'in.o'), object);
    run(['objcopy', '--strip-debug', 'in.o', 'out.o'], d);
    return readFileSync(join(d, 'out.o'));
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
}

/**
 * Does what `kiln cc` and a builder do with a plan: the local preprocessing, then the compile
 * laid out in a fresh directory standing for the builder's job directory (client/cc/remote-layout.ts),
 * compiled again in the mapped layout when the object names that directory.
 */
function runPlan(p: RemotePlan, cwd: string): string {
  const pre = spawnSync(p.preprocessArgv[0]!, p.preprocessArgv.slice(1), { cwd, maxBuffer: 64 << 20 });
  assert.equal(pre.status, 0, pre.stderr.toString());
  let text = cppText(pre.stdout);
  if (p.family === 'gcc') text = stripGccPreamble(text);
  const source = resolve(cwd, p.sourceArg);
  const root = layoutRoot(cwd, source, markerPaths(text), null);
  const compile = (kind: LayoutKind): { err: string; obj: Buffer | null; named: boolean } => {
    const job = mkdtempSync(join(tmpdir(), 'kiln-cc-builder-'));
    try {
      const l = layOut(kind, root, cwd, source, p.sourceArg, text, p.compileArgv, job)!;
      mkdirSync(dirname(join(job, l.sourcePath)), { recursive: true });
      mkdirSync(join(job, l.cwd), { recursive: true });
      writeFileSync(join(job, l.sourcePath), l.text);
      const comp = spawnSync(l.argv[0]!, l.argv.slice(1), { cwd: join(job, l.cwd) });
      const obj = comp.status === 0 ? readFileSync(join(job, l.output)) : null;
      return { err: comp.stderr.toString(), obj, named: obj !== null && namesRemoteRoot(obj, l) };
    } finally {
      rmSync(job, { recursive: true, force: true });
    }
  };
  let r = compile(p.debug && !hasUserMaps(p.compileArgv) ? 'mapped' : 'fixed');
  if (r.named) r = compile('mapped');
  if (r.obj) writeFileSync(p.output, r.obj);
  return pre.stderr.toString() + r.err;
}

describe('against the real gcc', { skip: !hasGcc && 'gcc/g++ not installed' }, () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'kiln-cc-args-'));
    const files: Record<string, string> = {
      // Macro expansions keep their length, so -g objects of C files are byte-identical too.
      'inc/h.h': '#define X 1\n#define N 2\n',
      'inc/pre.h': '#define PRE 7\n',
      'src/a.c': '#include "h.h"\nint f(void) { return X + N; }\nconst char *name(void) { return "a"; }\n',
      'src/m.c':
        '#include "h.h"\n#ifdef FOO\nint foo = FOO + PRE;\n#endif\nconst char *s = STR, *file = __FILE__;\n',
      'src/b.cc':
        '#include <vector>\n#include "h.h"\nint g() { std::vector<int> v{X}; return (int)v.size(); }\n',
      'src/c.c': 'int h(int a) { return a + 1; }\n',
      'src/noext': '#include "h.h"\nint k(void) { return N; }\n',
      'src/warn.c': '#warning from the preprocessor\nint w(void) { int unused; return 0; }\n',
      'args.rsp': '-c src/m.c -Iinc "-DSTR=\\"a b\\"" @more.rsp -MD -o \'obj/r r.o\'\n',
      'more.rsp': "-DFOO=3 '-include' inc/pre.h\n",
    };
    for (const [name, text] of Object.entries(files)) {
      mkdirSync(dirname(join(dir, name)), { recursive: true });
      writeFileSync(join(dir, name), text);
    }
    for (const d of ['obj', 'obj.dir', 'deps']) mkdirSync(join(dir, d));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** DIR is the project directory. `~`: -g with C++ headers, where only the debug sections may differ. */
  const cases = [
    'gcc -c src/a.c -Iinc',
    'gcc -c src/a.c -Iinc -MD',
    'gcc -c src/a.c -Iinc -MMD -MP -o obj/a.o',
    'gcc -c src/a.c -Iinc -MD -o obj.dir/b',
    'gcc -c src/a.c -Iinc -MD -o obj.dir/b.obj',
    'gcc -c src/a.c -Iinc -MD -MMD -o obj/a.o',
    'gcc -Iinc -MD -MF deps/x.dep -c src/a.c -o obj/a.o',
    'gcc -Iinc -MD -MT custom -MQ q$x -MP -c src/a.c -o obj/a.o',
    'gcc -Iinc -MD -c src/a.c -o obj/we$ird.o',
    'gcc -Wp,-MD,obj/.a.o.d -nostdinc -Iinc -O2 -c -o obj/a.o src/a.c',
    'gcc -Wp,-MMD,obj/.a.o.d -Iinc -c -o obj/a.o src/a.c',
    'gcc -x c -c src/noext -Iinc -MD',
    'gcc -xc -c src/noext -Iinc -MMD -oobj/n.o',
    'gcc -c src/m.c -Iinc -DFOO=2 -DSTR="x" -include inc/pre.h -fPIC -O2 -o obj/m.o',
    'gcc -c src/m.c -Iinc -DSTR="x" -UFOO -O1 -lm -L/usr/lib -Wl,--as-needed -o obj/m.o -MD',
    'gcc -g -O2 -c src/a.c -Iinc -MD -o obj/a.o',
    'gcc -g3 -c src/a.c -Iinc -o obj/a.o',
    'gcc -g -O2 -c DIR/src/m.c -IDIR/inc -DSTR="x" -o obj/m.o',
    'gcc -O2 -c DIR/src/m.c -IDIR/inc -DSTR="x" -ffile-prefix-map=DIR=/x -o obj/m.o',
    'gcc -g -ffile-prefix-map=DIR=. -c src/m.c -Iinc -DSTR="x" -o obj/m.o',
    'gcc -g -fdebug-prefix-map=DIR=/src -c DIR/src/a.c -IDIR/inc -MD -o DIR/obj/a.o',
    'gcc -O2 -frecord-gcc-switches -c src/m.c -Iinc -DSTR="x" -o obj/m.o',
    'gcc @args.rsp',
    'g++ -c src/b.cc -Iinc -MMD -O2 -std=c++17 -o obj/b.o',
    'g++ -g -c src/b.cc -Iinc -MD',
    'g++ -g -O2 -c DIR/src/b.cc -IDIR/inc -MD -o obj/b.o',
    'g++ -c src/c.c -MMD -o obj/c.o',
  ];
  for (const cmd of cases) {
    const debugMayDiffer = cmd.startsWith('~ ');
    const title = debugMayDiffer ? `${cmd.slice(2)} (same code and data; debug info may differ)` : cmd;
    it(title, () => {
      const argv = w(cmd.replace(/^~ /, '').replaceAll('DIR', dir));
      const p = analyzeCompile(argv, { cwd: dir });
      assert.ok(p.distributable, describePlan(p));
      let realErr = '';
      const real = created(dir, () => {
        const r = spawnSync(argv[0]!, argv.slice(1), { cwd: dir });
        assert.equal(r.status, 0, r.stderr.toString());
        realErr = r.stderr.toString();
      });
      let ourErr = '';
      const ours = created(dir, () => {
        ourErr = runPlan(p, dir);
      });
      assert.equal(ourErr, realErr, 'the same diagnostics');
      // The same files, with the same bytes: object, depfile (path, targets, prerequisites).
      assert.deepEqual([...ours.keys()].sort(), [...real.keys()].sort());
      for (const [name, bytes] of real) {
        if (debugMayDiffer && name.endsWith('.o')) {
          assert.ok(!bytes.equals(ours.get(name)!), 'now byte-identical: update the caveat in args.ts');
          assert.ok(
            stripDebug(bytes).equals(stripDebug(ours.get(name)!)),
            `${name} differs beyond debug info`,
          );
        } else assert.ok(bytes.equals(ours.get(name)!), `${name} differs`);
      }
      assert.ok(real.has(relative(dir, p.output)), `gcc wrote no ${p.output}`);
      if (p.depfile === null) assert.equal(real.size, 1);
      else assert.ok(real.has(relative(dir, p.depfile)), `gcc wrote no ${p.depfile}`);
    });
  }

  it('g++ compiles .c as C++ (mangled names), and so does the plan', () => {
    const p = analyzeCompile(w('g++ -c src/c.c -o obj/c.o'), { cwd: dir });
    assert.ok(p.distributable && p.lang === 'c++');
    const made = created(dir, () => runPlan(p, dir));
    assert.deepEqual([...made.keys()], ['obj/c.o']);
    writeFileSync(join(dir, 'obj/c.o'), made.get('obj/c.o')!);
    const nm = spawnSync('nm', [join(dir, 'obj/c.o')]).stdout.toString();
    rmSync(join(dir, 'obj/c.o'));
    assert.match(nm, /_Z1hi/);
  });

  it("diagnostics of the split compile are not a local compile's: kiln cc compiles locally when there are any", () => {
    // The builder quotes source lines from the text, not the source: client/cc/compile.ts uses the
    // farm's result only when neither run printed anything (test/e2e/cc-exact.test.ts).
    const argv = w('gcc -Wall -c src/warn.c -o obj/warn.o');
    const p = analyzeCompile(argv, { cwd: dir });
    assert.ok(p.distributable);
    let realErr = '';
    created(dir, () => {
      realErr = spawnSync(argv[0]!, argv.slice(1), { cwd: dir }).stderr.toString();
    });
    let ourErr = '';
    created(dir, () => {
      ourErr = runPlan(p, dir);
    });
    const messages = (text: string): string[] => text.split('\n').filter((l) => l && !/^ +(\d+ )?\|/.test(l));
    assert.match(realErr, /#warning from the preprocessor/);
    assert.match(realErr, /unused variable/);
    assert.deepEqual(messages(ourErr), messages(realErr));
    assert.notEqual(ourErr, realErr);
  });

  it('a preprocessing error is reported by the local -E run, as gcc reports it', () => {
    writeFileSync(join(dir, 'src/bad.c'), '#include "nope.h"\n');
    const argv = w('gcc -c src/bad.c -MD -o obj/bad.o');
    const p = analyzeCompile(argv, { cwd: dir });
    assert.ok(p.distributable);
    const real = spawnSync(argv[0]!, argv.slice(1), { cwd: dir });
    const pre = spawnSync(p.preprocessArgv[0]!, p.preprocessArgv.slice(1), { cwd: dir });
    assert.equal(pre.status, real.status);
    assert.notEqual(pre.status, 0);
    assert.equal(pre.stderr.toString(), real.stderr.toString());
    rmSync(join(dir, 'src/bad.c'));
  });
});
