/**
 * `kiln cc` for clang-cl (MSVC-style command lines, what Windows builds run): is it ONE `/c`
 * compile of one C or C++ source into an object? Then split it like a clang one
 * (client/cc/args.ts): a local `/E -Xclang -frewrite-includes` run, and a remote `clang-cl /c` of
 * that text. Decisions, each checked against Debian's clang-cl 14 by test/cc/cl-args.test.ts:
 * - Options take `/` or `-` (`/c`, `-c`); an argument starting with `/` that is no option of the
 *   table and looks like a path (holds another `/`, or ends in `.c`, `.cpp`, `.obj`, …) is a file,
 *   as clang-cl reads it (and `/Users/me/a.c` is `/U` + `sers/me/a.c`, as there).
 * - `/Fo` names the object, or a directory when it ends in `/` or `\` (the object is then
 *   `<dir><source stem>.obj`); without it the object is `<source stem>.obj` in the working directory.
 * - `/showIncludes`: the preprocessing prints its "Note: including file:" lines (on stderr with
 *   `/E`); kiln cc prints them on stdout, as the local compile would, for Ninja's `deps = msvc`.
 * - `/Z7` (CodeView in the object) is distributed; the object then names the local source, working
 *   directory and object path (`-fdebug-compilation-dir`, `-object-file-name`), as a local one
 *   does. `/Zi`/`/ZI` (a PDB shared by many compiles), PCH (`/Yc`, `/Yu`, `/Fp`), `/E`, `/P`,
 *   `/Zs` and extra output files (`/FA`, `/Fa`, `/Fm`, …) run here.
 * - Response files are split with Windows rules on every OS (clang-cl does), UTF-16 ones too;
 *   nested ones are relative to the working directory.
 * - Everything after `/link` is for the linker. gcc-style options clang-cl also takes (`-fsanitize=`,
 *   `-fprofile-instr-generate`, `/clang:-…`) follow the gcc/clang table (client/cc/flags.ts).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { AnalyzeOptions, CompilePlan, LocalPlan, RemotePlan } from './args.ts';
import { CL_REASON, lookupCl } from './cl-flags.ts';
import { lookup, XCLANG_PLUGIN, R } from './flags.ts';
import { decodeResponseFile, expandResponseFiles, splitWindowsResponseFile } from './response-file.ts';

type Role = 'pre' | 'both' | 'link' | 'show' | 'source';

/** `a.cpp` → C++, `a.c` → C; anything else is a linker input to clang-cl. */
function langOf(file: string, all: 'c' | 'c++' | null): 'c' | 'c++' | null {
  if (all) return all;
  const ext = /\.([^./\\]+)$/.exec(file)?.[1]?.toLowerCase();
  if (ext === 'c') return 'c';
  if (ext && ['cc', 'cp', 'cpp', 'cxx', 'c++'].includes(ext)) return 'c++';
  return null;
}

/** gcc-style dash options (and `/clang:` values): the gcc table's verdict, or null when it is fine. */
function gccStyle(a: string): { local: string } | 'pre' | null {
  const found = lookup(a);
  if (!found) return null;
  const role = found.spec.role;
  if (typeof role === 'object') return role;
  return role === 'pre' ? 'pre' : null;
}

export function analyzeClCompile(argv: string[], opts: AnalyzeOptions): CompilePlan {
  const compiler = argv[0]!;
  const read = opts.readFile ?? ((p: string) => decodeResponseFile(readFileSync(p)));
  const { args, unreadable } = expandResponseFiles(argv.slice(1), opts.cwd, read, splitWindowsResponseFile);
  const no = (reason: string, detail?: string): LocalPlan =>
    detail === undefined ? { distributable: false, reason } : { distributable: false, reason, detail };
  if (unreadable.length > 0) return no('unreadable response file', unreadable[0]);

  const items: { args: string[]; role: Role }[] = [];
  const inputs: { arg: string; lang: 'c' | 'c++' | null }[] = [];
  const outputs: string[] = [];
  let compileOnly = false;
  let all: 'c' | 'c++' | null = null;
  let show = false;
  let debug = false;
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
    const isOpt = a.length > 1 && (a[0] === '/' || a[0] === '-');
    const name = isOpt ? a.slice(1) : '';
    if (!isOpt) {
      inputs.push({ arg: a, lang: null });
      items.push({ args: [a], role: 'source' });
      continue;
    }
    if (name === 'c') compileOnly = true;
    else if (name === 'link') {
      items.push({ args: args.slice(i), role: 'link' });
      break;
    } else if (name.startsWith('Fo') || (name.startsWith('o') && !name.startsWith('openmp'))) {
      const v = name.startsWith('Fo') ? name.slice(2) : name === 'o' ? next() : name.slice(1);
      if (v !== undefined) outputs.push(v);
    } else if (name === 'TC' || name === 'TP') {
      all = name === 'TC' ? 'c' : 'c++';
    } else if (name.startsWith('Tc') || name.startsWith('Tp')) {
      const v = name.length > 2 ? name.slice(2) : next();
      if (v !== undefined) {
        inputs.push({ arg: v, lang: name[1] === 'c' ? 'c' : 'c++' });
        items.push({ args: [`/T${name[1]}`, v], role: 'source' });
      }
    } else if (name === 'Z7') {
      debug = true;
      items.push({ args: [a], role: 'both' });
    } else if (name === 'Xclang' || name === 'mllvm') {
      const v = next();
      if (v !== undefined && XCLANG_PLUGIN.has(v)) goLocal(R.plugin, `-Xclang ${v}`);
      items.push({ args: v === undefined ? [a] : [a, v], role: 'both' });
    } else if (name.startsWith('clang:')) {
      const verdict = gccStyle(name.slice(6));
      if (typeof verdict === 'object' && verdict !== null) goLocal(verdict.local, a);
      else if (/^-M/.test(name.slice(6))) goLocal('dependency options', a);
      items.push({ args: [a], role: verdict === 'pre' ? 'pre' : 'both' });
    } else {
      const found = lookupCl(name);
      if (found) {
        const { spec, nameLength } = found;
        const taken = [a];
        if (spec.arity === 'either' && name.length === nameLength) {
          const v = next();
          if (v !== undefined) taken.push(v);
        }
        if (typeof spec.role === 'object') goLocal(spec.role.local, a);
        else {
          if (spec.role === 'show') show = true;
          items.push({ args: taken, role: spec.role });
        }
        continue;
      }
      // Not in the table: with `/`, a file when it looks like a path (MSVC options hold no `/`:
      // `/O2`, `/EHsc`, `/std:c++17`), else an option; with `-`, a gcc-style or clang-cl option.
      if (a[0] === '/' && (name.includes('/') || /\.(?:c|cc|cp|cpp|cxx|c\+\+|obj|o|lib|res)$/i.test(name))) {
        inputs.push({ arg: a, lang: null });
        items.push({ args: [a], role: 'source' });
        continue;
      }
      // Only clang's own -f…, -m… and --… options are gcc-style in clang-cl (/Brepro is not -B).
      const verdict = /^-(?:f|m|-)/.test(a) ? gccStyle(a) : null;
      if (typeof verdict === 'object' && verdict !== null) goLocal(verdict.local, a);
      items.push({ args: [a], role: verdict === 'pre' ? 'pre' : 'both' });
    }
  }

  if (!compileOnly) return no('linking (no -c)');
  if (localReason) return localReason;
  if (inputs.length === 0) return no('no input file');
  const langs = inputs.map((x) => x.lang ?? langOf(x.arg, all));
  if (langs.filter((l) => l !== null).length > 1) return no('several source files');
  if (inputs.length > 1) return no('linker inputs with -c', inputs.find((_, k) => langs[k] === null)?.arg);
  const lang = langs[0];
  const sourceArg = inputs[0]!.arg;
  if (!lang)
    return no(
      'language of this file is not distributed (clang-cl compiles .c and .cpp, or /Tc, /Tp)',
      sourceArg,
    );
  if (outputs.length > 1) return no('several -o options');

  const p = path;
  const stem = p.basename(sourceArg).replace(/\.[^.]*$/, '');
  const fo = outputs[0];
  const objectRel = fo === undefined ? `${stem}.obj` : /[\\/]$/.test(fo) ? `${fo}${stem}.obj` : fo;
  const pre: string[] = [compiler];
  const comp: string[] = [p.basename(compiler).replace(/\.exe$/i, '')];
  const dropped: RemotePlan['dropped'] = [];
  for (const it of items) {
    const arg = it.args.join(' ');
    if (it.role === 'source') continue;
    // `/link` takes every argument after it: linker options stay out of both runs.
    if (it.role !== 'link') pre.push(...it.args);
    // With /Z7 the object records the compile's command line: give it the search options too.
    const recorded = debug && it.role === 'pre' && !/^[/-]FI/.test(it.args[0]!);
    if (it.role === 'both' || recorded) comp.push(...it.args);
    else
      dropped.push({
        arg,
        from: 'compile',
        reason:
          it.role === 'link'
            ? 'linker option, unused with /c (in neither run)'
            : it.role === 'show'
              ? 'printed by the local preprocessing'
              : 'preprocessor option, used by the local preprocessing',
      });
  }
  const langFlag = lang === 'c' ? '/Tc' : '/Tp';
  pre.push(langFlag, sourceArg, '/E', '-Xclang', '-frewrite-includes');
  comp.push('/c', langFlag, sourceArg, '/Foout.o');
  return {
    distributable: true,
    family: 'clang-cl',
    lang,
    source: p.resolve(opts.cwd, sourceArg),
    output: p.resolve(opts.cwd, objectRel),
    depfile: null,
    preprocessArgv: pre,
    compileArgv: comp,
    sourceArg,
    cppMode: '-frewrite-includes',
    debug,
    showIncludes: show,
    dropped,
  };
}

/** Is this compiler name a clang-cl (or `clang --driver-mode=cl`)? */
export function isClangCl(name: string, args: string[]): boolean {
  return /^clang-cl(?:-\d[\d.]*)?$/i.test(name) || args.includes('--driver-mode=cl');
}

export { CL_REASON };
