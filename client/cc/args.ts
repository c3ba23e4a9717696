/**
 * `kiln cc` command-line analysis: is a gcc/clang command line ONE single-source `-c` compile of
 * C, C++ or Objective-C(++) that the farm can run? If so, split it into a local preprocessing run
 * (which also writes the depfile exactly where the compiler would) and a remote compile of the
 * preprocessed text. Everything else runs locally, with a short reason.
 *
 * Decisions (each checked against gcc 12 and clang 14 by test/cc/args.test.ts):
 * - Preprocessing resolves `#include` and `#if` only and keeps comments and macros: gcc
 *   `-E -fdirectives-only`, clang `-E -frewrite-includes` (the icecream way). The remote compile
 *   then sees the text exactly as a local compile would (comments such as `/* fall through *\/`,
 *   macro expansion locations for warnings and debug columns), as an ordinary `-x <lang>` source:
 *   gcc's `-fpreprocessed -fdirectives-only` would be recorded in the object's DW_AT_producer.
 *   gcc's built-in macro definitions are removed from the text (the remote compiler defines the
 *   same ones), and `-nostdinc` keeps it from including stdc-predef.h a second time.
 *   clang's text keeps `#if` blocks, so `-D`, `-U` and `-undef` go to both runs.
 * - `-S`, `-E`, `-M`/`-MM`, `.s`/`.S`/`.sx` (assembly: cheap, may `.incbin` local files) and
 *   already preprocessed input (`.i`, `-x cpp-output`) run locally.
 * - `--sysroot`/`-isysroot` only steer header (and library) search, so they stay local: the
 *   builder has no such directory and the action key stays free of client paths.
 * - Response files follow gcc (libiberty `expandargv`): whitespace separates, `'`/`"` group,
 *   `\` escapes everywhere, nested `@file` names are relative to the working directory, and a
 *   missing file is left as the literal argument (then the compile runs locally).
 * - Linker options (`-l`, `-L`, `-Wl,`) stay in the preprocessing run (gcc ignores them with
 *   `-E` as with `-c`; clang warns about them in both) and leave the remote compile.
 * - clang rewrites `-Wp,-MD,f` to `-MD -MF f`, so its default target is the `-o` path (gcc:
 *   `<source stem>.o`).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { expandResponseFiles } from './response-file.ts';
import { lookup, R, XCLANG_PLUGIN } from './flags.ts';
import { analyzeClCompile, isClangCl } from './cl-args.ts';
export { splitResponseFile } from './response-file.ts';

/** `clang-cl`: MSVC-style command lines (client/cc/cl-args.ts). */
export type CompilerFamily = 'gcc' | 'clang' | 'clang-cl';
/** The languages whose single-source `-c` compiles are distributed. */
export type SourceLang = 'c' | 'c++' | 'objective-c' | 'objective-c++';

export interface AnalyzeOptions {
  /** The directory the compiler runs in; relative paths are resolved against it. */
  cwd: string;
  /**
   * Reads a response file (`@file`), relative names already resolved against `cwd`.
   * @default node:fs readFileSync(p, 'utf8')
   */
  readFile?: (p: string) => string;
  /**
   * Which driver the command line is for.
   * @default 'clang' when the compiler's name contains "clang" (or is `cc`/`c++` on macOS and
   * FreeBSD), else 'gcc'
   */
  family?: CompilerFamily;
}

/** The compile must run locally. `reason` is one of a fixed set of short strings (stats group by it). */
export interface LocalPlan {
  distributable: false;
  reason: string;
  /** The argument that caused it, when there is one. */
  detail?: string;
}

export interface RemotePlan {
  distributable: true;
  family: CompilerFamily;
  lang: SourceLang;
  /** Absolute path of the source file. */
  source: string;
  /** Absolute path where the compiler would write the object. */
  output: string;
  /** Absolute path where the compiler would write the depfile, or null when it writes none. */
  depfile: string | null;
  /**
   * Run locally in `cwd`: the compiler with `-E`, every argument but `-c` and `-o FILE`, and
   * explicit `-MF`/`-MQ` where the defaults would otherwise change. Writes the preprocessed text
   * on stdout, the depfile (if any) to `depfile`, and the preprocessor's diagnostics on stderr
   * (a failure here is the user's compile error). Response files are already expanded.
   */
  preprocessArgv: string[];
  /**
   * Run locally in `cwd` (the local keep, client/cc/local-keep.ts): a plain `-E` of the compile's
   * preprocessor options, without its dependency options (it writes no depfile) and without
   * `cppMode`, whose line markers name every file the compile reads. Absent for clang-cl.
   */
  listArgv?: string[];
  /**
   * Run on the builder: argv[0] is the compiler's base name (replace it with the toolchain's
   * compiler), then the code-generation flags and `-x <lang> -c <sourceArg> -o out.o`, in a
   * directory laid out like the local one (client/cc/remote-layout.ts) where the file at
   * `sourceArg` holds the preprocessed text.
   */
  compileArgv: string[];
  /** The source file argument as given (relative to `cwd`, or absolute). */
  sourceArg: string;
  /** `-fdirectives-only` (gcc) or `-frewrite-includes` (clang): see the header. */
  cppMode: '-fdirectives-only' | '-frewrite-includes';
  /** A `-g` option other than `-g0` (clang-cl: `/Z7`) is among the compile flags: the object names its directories. */
  debug: boolean;
  /**
   * clang-cl `/showIncludes`: the preprocessing's "Note: including file:" lines (stderr with `/E`)
   * are printed on stdout, where the compile would print them.
   */
  showIncludes?: boolean;
  /** Arguments left out of `preprocessArgv` or `compileArgv`, with why. */
  dropped: { arg: string; from: 'preprocess' | 'compile' | 'both'; reason: string }[];
}

export type CompilePlan = LocalPlan | RemotePlan;

// ---------------------------------------------------------------------------------------------
// Compilers and languages

const KNOWN_DRIVER = /(?:^|[-_])(?:gcc|g\+\+|cc|c\+\+|clang|clang\+\+)(?:-\d[\d.]*)?(?:-posix|-win32)?$/;
const CXX_DRIVER = /\+\+(?:-?\d[\d.]*)?(?:-posix|-win32)?$/;

function driverName(compiler: string): string {
  return path.basename(compiler.replace(/\\/g, '/')).replace(/\.exe$/i, '');
}

function guessFamily(name: string): CompilerFamily {
  if (/clang/.test(name)) return 'clang';
  if ((name === 'cc' || name === 'c++') && ['darwin', 'freebsd'].includes(process.platform)) return 'clang';
  return 'gcc';
}

const EXT_LANG: Record<string, string> = {};
const extLangs: [string, string][] = [
  ['c', 'c'],
  ['i', 'cpp-output'],
  ['h', 'c-header'],
  ['cc cp cxx cpp CPP c++ C', 'c++'],
  ['ii', 'c++-cpp-output'],
  ['hh H hp hxx hpp HPP h++ tcc', 'c++-header'],
  ['m', 'objective-c'],
  ['mi', 'objective-c-cpp-output'],
  ['mm M', 'objective-c++'],
  ['mii', 'objective-c++-cpp-output'],
  ['s', 'assembler'],
  ['S sx', 'assembler-with-cpp'],
  ['cu', 'cuda'],
  ['hip', 'hip'],
  ['cl', 'opencl'],
  ['cppm ccm cxxm c++m ixx', 'c++-module'],
  ['f for ftn fpp F FOR FPP FTN f90 f95 f03 f08 F90 F95 F03 F08', 'fortran'],
  ['ads adb', 'ada'],
  ['d di dd', 'd'],
  ['go', 'go'],
];
for (const [exts, lang] of extLangs) for (const e of exts.split(' ')) EXT_LANG[e] = lang;

const X_ALIASES: Record<string, string> = {
  'objc-cpp-output': 'objective-c-cpp-output',
  'objc++-cpp-output': 'objective-c++-cpp-output',
};

/** What a language means for distribution. */
function classify(lang: string): { source: SourceLang } | { local: string } {
  switch (lang) {
    case 'c':
    case 'c++':
    case 'objective-c':
    case 'objective-c++':
      return { source: lang };
    case 'cpp-output':
    case 'c++-cpp-output':
    case 'objective-c-cpp-output':
    case 'objective-c++-cpp-output':
      return { local: 'input is already preprocessed' };
    case 'assembler':
    case 'assembler-with-cpp':
      return { local: 'assembly is assembled locally' };
    default:
      if (lang.includes('header')) return { local: 'precompiled header' };
      return { local: `language '${lang}' is not distributed` };
  }
}

/** Preprocessor options that clang's `-frewrite-includes` text still needs (its `#if` blocks stay). */
const CLANG_MACRO_OPTION = /^(?:-[DU]|--define-macro=|--undefine-macro=|-undef$)/;

// ---------------------------------------------------------------------------------------------
// Paths as gcc computes them

function isSep(c: string | undefined): boolean {
  return c === '/' || (c === '\\' && path.sep === '\\');
}

/** Drops the last `.suffix` of the file name (not of a directory), as gcc's `%.d%*` does. */
export function stripSuffix(p: string): string {
  for (let i = p.length - 1; i >= 0 && !isSep(p[i]); i--) if (p[i] === '.') return p.slice(0, i);
  return p;
}

function baseName(p: string): string {
  let i = p.length - 1;
  while (i >= 0 && !isSep(p[i])) i--;
  return p.slice(i + 1);
}

function extension(p: string): string {
  const b = baseName(p);
  const dot = b.lastIndexOf('.');
  return dot < 0 ? '' : b.slice(dot + 1);
}

// ---------------------------------------------------------------------------------------------

interface Item {
  args: string[];
  /** `dep`: a dependency option (`-MD`, `-MF f`, `-Wp,-MD,f`, …): preprocessing only, and not in `listArgv`. */
  role: 'pre' | 'dep' | 'both' | 'compile' | 'link' | 'drop' | 'source' | 'x';
}

/**
 * Analyzes `argv` (the compiler and its arguments, as given to `kiln cc`).
 * Never throws on odd command lines: anything not understood runs locally.
 */
export function analyzeCompile(argv: string[], opts: AnalyzeOptions): CompilePlan {
  const compiler = argv[0];
  if (compiler === undefined) return { distributable: false, reason: 'no compiler given' };
  const name = driverName(compiler);
  if (isClangCl(name, argv)) return analyzeClCompile(argv, opts);
  if (/^cl$/i.test(name)) return { distributable: false, reason: 'MSVC cl.exe (use clang-cl)' };
  if (!KNOWN_DRIVER.test(name))
    return { distributable: false, reason: 'not a gcc or clang driver', detail: name };
  const family = opts.family ?? guessFamily(name);
  const cxxDriver = CXX_DRIVER.test(name);
  const read = opts.readFile ?? ((p: string) => readFileSync(p, 'utf8'));
  const { args, unreadable } = expandResponseFiles(argv.slice(1), opts.cwd, read);
  const no = (reason: string, detail?: string): LocalPlan =>
    detail === undefined ? { distributable: false, reason } : { distributable: false, reason, detail };
  if (unreadable.length > 0) return no('unreadable response file', unreadable[0]);

  const items: Item[] = [];
  const inputs: { arg: string; lang: string | null }[] = [];
  const outputs: string[] = [];
  const archs = new Set<string>();
  const mode = { c: false, S: false, E: false, M: false };
  const deps = {
    md: false,
    wp: null as { kind: string; file: string } | null,
    mf: null as string | null,
    targets: false,
    other: [] as string[],
  };
  let xLang: string | null = null;
  let localReason: LocalPlan | null = null;
  const goLocal = (reason: string, detail: string): void => {
    localReason ??= no(reason, detail);
  };

  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const next = (): string | undefined => {
      const v = args[i + 1];
      if (v !== undefined) i++;
      else goLocal('missing option value', a);
      return v;
    };
    /** Takes the value of an option that is joined (`-MFx`) or separate (`-MF x`). */
    const value = (opt: string): { args: string[]; value: string | undefined } => {
      if (a.length > opt.length) return { args: [a], value: a.slice(opt.length) };
      const v = next();
      return { args: v === undefined ? [a] : [a, v], value: v };
    };

    if (a === '-' || !a.startsWith('-')) {
      inputs.push({ arg: a, lang: xLang });
      items.push({ args: [a], role: 'source' });
      continue;
    }
    if (a === '-c') mode.c = true;
    else if (a === '-S') mode.S = true;
    else if (a === '-E') mode.E = true;
    else if (a === '-M' || a === '-MM') mode.M = true;
    else if (a === '-MD' || a === '-MMD') {
      deps.md = true;
      items.push({ args: [a], role: 'dep' });
    } else if (a === '-MP' || a === '-MG') {
      if (a === '-MG') goLocal('-MG needs -M or -MM', a);
      deps.other.push(a);
      items.push({ args: [a], role: 'dep' });
    } else if (a.startsWith('-MF') || a.startsWith('-MT') || a.startsWith('-MQ')) {
      const v = value(a.slice(0, 3));
      if (a.startsWith('-MF')) deps.mf = v.value ?? null;
      else deps.targets = true;
      deps.other.push(a.slice(0, 3));
      items.push({ args: v.args, role: 'dep' });
    } else if (a.startsWith('-o') && !a.startsWith('-objcmt')) {
      const v = value('-o');
      if (v.value !== undefined) outputs.push(v.value);
    } else if (a.startsWith('-x')) {
      const v = value('-x');
      const lang = v.value === undefined ? 'none' : (X_ALIASES[v.value] ?? v.value);
      xLang = lang === 'none' ? null : lang;
      items.push({ args: v.args, role: 'x' });
    } else if (a.startsWith('-Wp,')) {
      const parts = a.slice(4).split(',');
      const dep = (parts[0] === '-MD' || parts[0] === '-MMD') && parts.length === 2;
      if (dep && !deps.wp) deps.wp = { kind: parts[0]!, file: parts[1]! };
      else if (parts.some((p) => p.startsWith('-M'))) goLocal('unsupported -Wp dependency option', a);
      items.push({ args: [a], role: dep ? 'dep' : 'pre' });
    } else if (a === '--sysroot' || a.startsWith('--sysroot=') || a.startsWith('-isysroot')) {
      const v = a === '--sysroot' ? value(a) : a.startsWith('-isysroot') ? value('-isysroot') : { args: [a] };
      items.push({ args: v.args, role: 'pre' });
    } else if (a === '-arch') {
      const v = value(a);
      if (v.value !== undefined) archs.add(v.value);
      items.push({ args: v.args, role: 'both' });
    } else if (a === '-Xclang') {
      const v = value(a);
      if (v.value !== undefined && XCLANG_PLUGIN.has(v.value)) goLocal(R.plugin, `-Xclang ${v.value}`);
      items.push({ args: v.args, role: 'both' });
    } else if (family === 'clang' && /^--?imacros/.test(a)) {
      goLocal(R.clangImacros, a);
      if (a === '-imacros') next();
    } else if (a.startsWith('-fopt-info') && a.includes('=')) {
      goLocal(R.extraOutput, a);
    } else {
      const found = lookup(a);
      if (!found) {
        // Unknown -M options are preprocessor options; anything else may change code generation.
        items.push({ args: [a], role: a.startsWith('-M') ? 'pre' : 'both' });
        continue;
      }
      const { spec, joined } = found;
      const taken = [a];
      if (spec.arity === 'separate' || (spec.arity === 'either' && !joined) || a.startsWith('-Xarch_')) {
        const v = next();
        if (v !== undefined) taken.push(v);
      }
      if (typeof spec.role === 'object') goLocal(spec.role.local, a);
      else items.push({ args: taken, role: spec.role });
    }
  }

  // What the command does.
  if (mode.E) return no('-E only preprocesses');
  if (mode.M) return no('-M/-MM write only dependencies');
  if (mode.S) return no('-S writes assembly');
  if (!mode.c) return no('linking (no -c)');
  if (localReason) return localReason;

  // Inputs.
  if (inputs.length === 0) return no('no input file');
  if (inputs.some((x) => x.arg === '-')) return no('reads the source from stdin');
  const langs = inputs.map((x) => {
    if (x.lang !== null) return x.lang;
    let lang = EXT_LANG[extension(x.arg)] ?? 'linker-input';
    if (cxxDriver)
      lang = { c: 'c++', 'c-header': 'c++-header', 'cpp-output': 'c++-cpp-output' }[lang] ?? lang;
    return lang;
  });
  if (langs.filter((l) => l !== 'linker-input').length > 1) return no('several source files');
  if (inputs.length > 1)
    return no('linker inputs with -c', inputs.find((_, k) => langs[k] === 'linker-input')?.arg);
  const sourceArg = inputs[0]!.arg;
  const kind = classify(langs[0]!);
  if ('local' in kind) return no(kind.local, sourceArg);
  const lang = kind.source;

  // Output.
  if (outputs.length > 1) return no('several -o options');
  const oArg = outputs[0];
  if (oArg === '-') return no('writes the object to stdout');
  if (oArg !== undefined && (/^\/dev\//.test(oArg) || /^nul$/i.test(oArg)))
    return no('the output is not a regular file', oArg);
  if (oArg !== undefined && /\.(?:gch|pch|pcm)$/.test(oArg)) return no(R.pch, oArg);
  if (archs.size > 1) return no('several -arch (universal binary)');
  const objectRel = oArg ?? stripSuffix(baseName(sourceArg)) + '.o';

  // Dependencies: one local preprocessing run must write what the compile would have written.
  const extra: string[] = [];
  let depRel: string | null = null;
  if (deps.wp) {
    if (deps.md || deps.mf !== null) return no('several dependency options', `-Wp,${deps.wp.kind}`);
    depRel = deps.wp.file;
    // gcc's cc1 names the target `<stem>.o` with or without -o; clang rewrites to -MD -MF f.
    if (family === 'clang' && oArg !== undefined && !deps.targets) extra.push('-MQ', oArg);
  } else if (deps.md) {
    depRel = deps.mf ?? (oArg !== undefined ? stripSuffix(oArg) : stripSuffix(baseName(sourceArg))) + '.d';
    if (deps.mf === null) extra.push('-MF', depRel);
    if (oArg !== undefined && !deps.targets) extra.push('-MQ', oArg);
  } else if (deps.other.length > 0) {
    return no('dependency options without -MD or -MMD', deps.other[0]);
  }

  // The two command lines.
  const dropped: RemotePlan['dropped'] = [];
  const pre: string[] = [compiler];
  const comp: string[] = [name];
  const list: string[] = [compiler];
  for (const it of items) {
    const arg = it.args.join(' ');
    if (it.role !== 'dep' && it.role !== 'compile' && it.role !== 'drop') list.push(...it.args);
    switch (it.role) {
      case 'source':
      case 'x':
        pre.push(...it.args);
        break;
      case 'dep':
        pre.push(...it.args);
        dropped.push({
          arg,
          from: 'compile',
          reason: 'preprocessor option, used by the local preprocessing',
        });
        break;
      case 'pre':
        pre.push(...it.args);
        if (family === 'clang' && CLANG_MACRO_OPTION.test(it.args[0]!)) {
          comp.push(...it.args);
          break;
        }
        dropped.push({
          arg,
          from: 'compile',
          reason: 'preprocessor option, used by the local preprocessing',
        });
        break;
      case 'both':
        pre.push(...it.args);
        comp.push(...it.args);
        break;
      case 'compile':
        comp.push(...it.args);
        dropped.push({ arg, from: 'preprocess', reason: 'assembler option, used by the remote compile' });
        break;
      case 'link':
        pre.push(...it.args);
        dropped.push({ arg, from: 'compile', reason: 'linker option, unused with -c' });
        break;
      case 'drop':
        dropped.push({ arg, from: 'both', reason: 'only changes -E output' });
        break;
    }
  }
  const cppMode = family === 'gcc' ? '-fdirectives-only' : '-frewrite-includes';
  pre.push('-E', cppMode, ...extra);
  list.push('-E');
  // gcc's text carries the built-in definitions (removed before sending) but not stdc-predef.h's
  // guard, which the remote compile would otherwise include again.
  if (family === 'gcc') comp.push('-nostdinc');
  const debug = comp.some((a) => /^-g(?!0$)/.test(a) && !a.startsWith('-gen'));
  comp.push('-x', lang, '-c', sourceArg, '-o', 'out.o');
  return {
    distributable: true,
    family,
    lang,
    source: path.resolve(opts.cwd, sourceArg),
    output: path.resolve(opts.cwd, objectRel),
    depfile: depRel === null ? null : path.resolve(opts.cwd, depRel),
    preprocessArgv: pre,
    listArgv: list,
    compileArgv: comp,
    sourceArg,
    cppMode,
    debug,
    dropped,
  };
}

function quote(argv: string[]): string {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

/** A few lines for `kiln cc --verbose`: why it runs locally, or what runs where. */
export function describePlan(plan: CompilePlan): string {
  if (!plan.distributable)
    return `kiln cc: compiling locally: ${plan.reason}${plan.detail !== undefined ? ` (${plan.detail})` : ''}`;
  const lines = [
    `kiln cc: distributing ${plan.lang} compile of ${plan.source}`,
    `  object      ${plan.output}`,
    `  depfile     ${plan.depfile ?? '-'}`,
    `  preprocess  ${quote(plan.preprocessArgv)}`,
    `  compile     ${quote(plan.compileArgv)}`,
  ];
  for (const d of plan.dropped) lines.push(`  dropped     ${d.arg} from ${d.from}: ${d.reason}`);
  return lines.join('\n');
}
