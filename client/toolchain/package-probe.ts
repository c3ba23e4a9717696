/**
 * Asks a local gcc or clang what it needs to compile and link a C or C++ program: its helper
 * programs, its own directories, its include directories and the startup files and libraries
 * it links with. Used by client/toolchain/package.ts.
 */
import { execFile } from 'node:child_process';
import { access, constants, lstat, realpath, stat } from 'node:fs/promises';
import { delimiter, isAbsolute, posix, resolve } from 'node:path';
import { KilnError } from '../../protocol/errors.ts';
import { readElfIdent, type ElfIdent } from './package-elf.ts';

/** The PATH a job gets in the sandbox (bwrap-profiles/default.json): where bare program names are found. */
const SANDBOX_PATH = ['/usr/local/bin', '/usr/bin', '/bin'];
/** Startup files and libraries a C/C++ link may use; each is added when the compiler finds it. */
const LINK_FILES = [
  ...['crt1.o', 'Scrt1.o', 'rcrt1.o', 'gcrt1.o', 'crti.o', 'crtn.o'],
  ...['crtbegin.o', 'crtbeginS.o', 'crtbeginT.o', 'crtend.o', 'crtendS.o'],
  ...[
    'c',
    'm',
    'pthread',
    'dl',
    'rt',
    'util',
    'resolv',
    'atomic',
    'gcc_s',
    'stdc++',
    'c++',
    'c++abi',
  ].flatMap((l) => [`lib${l}.so`, `lib${l}.a`]),
  ...['libgcc.a', 'libgcc_eh.a', 'libc_nonshared.a', 'libssp_nonshared.a'],
];
/** Compiler wrappers that masquerade as a compiler (/usr/lib/ccache/gcc -> ../../bin/ccache). */
const WRAPPERS = /^(ccache|sccache|distcc|icecc|buildcache)$/;
/** Seconds one query of the compiler may take. */
const QUERY_TIMEOUT_MS = 30_000;

export interface CompilerProbe {
  kind: 'gcc' | 'clang';
  /** First line of `--version`. */
  version: string;
  /** Target triple (`-dumpmachine`). */
  target: string;
  /** Absolute path of the compiler as named (links not resolved: clang++ must stay clang++). */
  path: string;
  /** ELF identity of the driver: the host's architecture. */
  elf: ElfIdent;
  /** Files and directories the toolchain cannot work without. */
  required: string[];
  /** Directories taken with everything below them (the first ones are required). */
  trees: { path: string; required: boolean }[];
  /** Files added when they exist. */
  optional: string[];
  /** Where the compiler finds a library or startup file, or undefined. */
  findLibrary(name: string): Promise<string | undefined>;
}

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

function query(file: string, args: string[]): Promise<Ran> {
  return new Promise((done) => {
    const env = { LC_ALL: 'C', PATH: process.env.PATH ?? SANDBOX_PATH.join(':') };
    execFile(file, args, { env, timeout: QUERY_TIMEOUT_MS, maxBuffer: 8 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
      done({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

async function isFile(p: string): Promise<boolean> {
  return (await stat(p).catch(() => undefined))?.isFile() ?? false;
}

/**
 * The absolute path of `compiler` (a path, or a name looked up in `PATH`), checked to be an
 * executable ELF file.
 * @throws KilnError ERR_NOT_FOUND (missing) or ERR_VALIDATION (broken link, not executable, not ELF)
 */
export async function locateCompiler(
  compiler: string,
  cwd: string,
  pathEnv: string,
): Promise<{ path: string; elf: ElfIdent }> {
  let path: string | undefined;
  if (compiler.includes('/')) path = resolve(cwd, compiler);
  else {
    for (const dir of pathEnv.split(delimiter).filter((d) => isAbsolute(d))) {
      const p = posix.join(dir, compiler);
      if (
        await lstat(p).then(
          () => true,
          () => false,
        )
      ) {
        path = p;
        break;
      }
    }
    if (path === undefined) throw new KilnError('ERR_NOT_FOUND', `compiler "${compiler}" not found in PATH`);
  }
  const st = await lstat(path).catch(() => undefined);
  if (st === undefined) throw new KilnError('ERR_NOT_FOUND', `compiler ${path} does not exist`);
  const real = await realpath(path).catch(() => undefined);
  if (real === undefined) throw new KilnError('ERR_VALIDATION', `compiler ${path} is a broken symbolic link`);
  if (!(await isFile(real))) throw new KilnError('ERR_VALIDATION', `compiler ${path} is not a regular file`);
  const wrapper = WRAPPERS.exec(posix.basename(real))?.[0];
  if (wrapper) {
    throw new KilnError(
      'ERR_VALIDATION',
      `compiler ${path} is ${wrapper}, a compiler wrapper: package the real compiler (such as /usr/bin/gcc-12)`,
    );
  }
  await access(real, constants.X_OK).catch(() => {
    throw new KilnError('ERR_VALIDATION', `compiler ${path} is not executable`);
  });
  const elf = await readElfIdent(real);
  if (elf === undefined || (elf.type !== 2 && elf.type !== 3)) {
    throw new KilnError('ERR_VALIDATION', `compiler ${path} is not an ELF program (a wrapper script?)`);
  }
  return { path, elf };
}

/** Include directories from `-E -v` (both the quote and the angle-bracket lists). */
export function parseIncludeDirs(stderr: string): string[] {
  const out: string[] = [];
  let inList = false;
  for (const line of stderr.split('\n')) {
    if (/^#include .* search starts here:$/.test(line)) inList = true;
    else if (line.startsWith('End of search list.')) inList = false;
    else if (inList && line.startsWith(' /')) out.push(line.trim().replace(/ \(framework directory\)$/, ''));
  }
  return out;
}

/**
 * Probes the compiler at `path`.
 * @throws KilnError ERR_VALIDATION when it is neither gcc nor clang.
 */
export async function probeCompiler(path: string, elf: ElfIdent): Promise<CompilerProbe> {
  const ask = async (...args: string[]): Promise<string> => {
    const r = await query(path, args);
    return r.code === 0 ? r.stdout.trim() : '';
  };
  const found = async (p: string): Promise<string | undefined> =>
    isAbsolute(p) && (await isFile(p)) ? p : undefined;
  const findLibrary = async (name: string): Promise<string | undefined> =>
    found(await ask(`-print-file-name=${name}`));
  const version = await query(path, ['--version']);
  const firstLine = version.stdout.split('\n')[0]?.trim() ?? '';
  const cc1 = await found(await ask('-print-prog-name=cc1'));
  const clang = version.code === 0 && /clang version/.test(version.stdout);
  if (!clang && cc1 === undefined) {
    throw new KilnError(
      'ERR_VALIDATION',
      `${path} is not a gcc or clang compiler (--version says ${JSON.stringify(firstLine || version.stderr.trim())})`,
    );
  }
  const target = await ask('-dumpmachine');
  const program = async (name: string): Promise<string | undefined> => {
    const p = await ask(`-print-prog-name=${name}`);
    if (isAbsolute(p)) return found(p);
    for (const dir of SANDBOX_PATH) {
      const q = await found(posix.join(dir, p || name));
      if (q) return q;
    }
    return undefined;
  };
  const need = async (name: string): Promise<string> => {
    const p = await program(name);
    if (p === undefined)
      throw new KilnError('ERR_VALIDATION', `${path} uses "${name}", which is not installed`);
    return p;
  };
  const optional: string[] = [];
  const required: string[] = [path];
  const trees: CompilerProbe['trees'] = [];
  const langs = ['c'];

  if (clang) {
    const resource = await ask('-print-resource-dir');
    if (!isAbsolute(resource)) throw new KilnError('ERR_VALIDATION', `${path}: no resource directory`);
    trees.push({ path: resource, required: true });
    required.push(await need('ld'));
    for (const p of ['ld.lld', 'lld', 'as']) optional.push((await program(p)) ?? '');
    const gccInstall = /^Selected GCC installation: (\/.*)$/m.exec((await query(path, ['-v'])).stderr)?.[1];
    if (gccInstall) trees.push({ path: gccInstall, required: true });
    langs.push('c++');
    optional.push(...(await siblingDrivers(path)));
  } else {
    required.push(cc1 ?? '', await need('as'), await need('ld'), await need('collect2'));
    for (const p of ['cc1plus', 'cc1obj', 'lto1', 'lto-wrapper', 'ld.bfd', 'ld.gold']) {
      optional.push((await program(p)) ?? '');
    }
    for (const f of ['liblto_plugin.so', 'specs']) optional.push((await findLibrary(f)) ?? '');
    trees.push({ path: posix.dirname(await ask('-print-libgcc-file-name')), required: true });
    trees.push({ path: posix.dirname(cc1 ?? ''), required: true });
    if (await program('cc1plus')) langs.push('c++');
  }
  for (const lang of langs) {
    const r = await query(path, [`-x${lang}`, '-E', '-v', '/dev/null']);
    if (r.code !== 0 && lang === 'c') {
      throw new KilnError('ERR_VALIDATION', `${path} cannot preprocess C: ${r.stderr.trim().slice(-500)}`);
    }
    for (const dir of parseIncludeDirs(r.stderr)) trees.push({ path: dir, required: false });
  }
  for (const f of LINK_FILES) optional.push((await findLibrary(f)) ?? '');
  const sysroot = await ask('-print-sysroot');
  if (isAbsolute(sysroot) && posix.normalize(sysroot) !== '/') trees.push({ path: sysroot, required: true });
  // Debian's cross compilers keep the target's headers, libraries and binutils in /usr/<triple>.
  if (/^[\w.-]+$/.test(target)) trees.push({ path: `/usr/${target}`, required: false });
  return {
    kind: clang ? 'clang' : 'gcc',
    version: firstLine,
    target,
    path,
    elf,
    required,
    trees: await existing(trees),
    optional: optional.filter((p) => p !== ''),
    findLibrary,
  };
}

/**
 * clang's other driver names next to it (clang++, clang-cl, clang-cpp, with or without the
 * version: `clang-cl-14`) that run the same binary: one archive serves gcc-style and MSVC-style
 * command lines (a Windows client's `clang-cl`, a macOS client's `clang`).
 */
async function siblingDrivers(path: string): Promise<string[]> {
  const real = await realpath(path).catch(() => path);
  const major = /-(\d+)$/.exec(posix.basename(path))?.[1] ?? /llvm-(\d+)/.exec(real)?.[1];
  const names = ['clang', 'clang++', 'clang-cl', 'clang-cpp'].flatMap((n) =>
    major ? [n, `${n}-${major}`] : [n],
  );
  const out: string[] = [];
  for (const dir of new Set([posix.dirname(path), posix.dirname(real)]))
    for (const n of names) {
      const p = posix.join(dir, n);
      if (p !== path && (await realpath(p).catch(() => '')) === real) out.push(p);
    }
  return out;
}

/** The trees that exist (a missing optional include directory is normal: gcc lists /usr/local/include). */
async function existing(trees: CompilerProbe['trees']): Promise<CompilerProbe['trees']> {
  const out: CompilerProbe['trees'] = [];
  for (const t of trees) {
    if (t.required || (await stat(t.path).catch(() => undefined))?.isDirectory()) out.push(t);
  }
  return out;
}
