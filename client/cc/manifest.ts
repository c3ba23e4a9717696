/**
 * Direct mode (ccache's name): a compile seen before is answered without running the
 * preprocessor. A manifest, kept on this machine, is keyed by everything that decides the
 * preprocessing but the headers (the compiler binary, the command line, the working directory,
 * the environment variables compilers read, the source's SHA-256); each of its entries lists the
 * files the preprocessing read with their SHA-256, the action key the farm computed for that
 * compile and the depfile text. An entry applies only when every listed file still has its
 * digest (client/cc/file-digests.ts: hashed again unless its inode, size, mtime and ctime are
 * those of a settled file already hashed, never judged by mtime alone). The action key is then
 * answered from this machine's recent results (client/cc/results.ts) or the farm's cache
 * (`GET /api/v1/actions/{key}`).
 *
 * Like ccache's, it cannot see a header that would now be found earlier on the include path
 * than the one it read (a new file shadowing an old one): touch the source or clear the
 * manifests (`$KILN_CC_MANIFESTS`) after adding such a file.
 */
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { cacheDir } from '../dirs.ts';
import { fileDigest, fileFacts, sha256 } from './file-digests.ts';

/** Entries kept per manifest (distinct header versions of one compile). */
const MAX_ENTRIES = 8;
/** Environment variables that change what gcc or clang preprocess or produce. */
const ENV_KEYS = [
  'CPATH',
  'C_INCLUDE_PATH',
  'CPLUS_INCLUDE_PATH',
  'OBJC_INCLUDE_PATH',
  'OBJCPLUS_INCLUDE_PATH',
  'GCC_EXEC_PREFIX',
  'COMPILER_PATH',
  'SOURCE_DATE_EPOCH',
  'DEPENDENCIES_OUTPUT',
  'SUNPRO_DEPENDENCIES',
  'LC_ALL',
  'LC_MESSAGES',
  'LANG',
  'KILN_CC_BASEDIR',
];

export interface ManifestEntry {
  /** Files read, absolute, with the SHA-256 of their contents (null: it did not exist). */
  files: [string, string | null][];
  /** The farm's action key for this compile. */
  action: string;
  /** Where the object is in the action's result. */
  output: string;
  /** The depfile's text, when the compile writes one. */
  depfile: string | null;
  /** What the compile prints on stdout (clang-cl's `/showIncludes` lines; latin1), when not empty. */
  stdout?: string;
  /** What the compile prints on stderr (clang's warnings about its options, client/cc/compile.ts), when not empty. */
  stderr?: string;
}

/**
 * The directory of manifests: `$KILN_CC_MANIFESTS`, else `cc-manifests` in the OS's cache place
 * (client/dirs.ts: `$XDG_CACHE_HOME/kiln` or `~/.cache/kiln`, `%LOCALAPPDATA%\kiln`, `~/Library/Caches/kiln`).
 */
export function manifestDir(env: NodeJS.ProcessEnv): string {
  if (env.KILN_CC_MANIFESTS) return env.KILN_CC_MANIFESTS;
  return path.join(cacheDir(env), 'cc-manifests');
}

/** The compiler binary as PATH finds it, with its size and time (a new compiler is a new key). */
function compilerId(compiler: string, env: NodeJS.ProcessEnv): string | null {
  const dirs = /[\\/]/.test(compiler) ? [''] : (env.PATH ?? '').split(path.delimiter).filter(Boolean);
  for (const d of dirs) {
    const p = d ? path.join(d, compiler) : compiler;
    try {
      const st = statSync(p, { throwIfNoEntry: false });
      if (st?.isFile()) return `${p}:${st.size}:${st.mtimeMs}:${st.ino}`;
    } catch {
      /* next */
    }
  }
  return null;
}

/** Paths under a portable manifest's root are kept as `@R/<path below it>`. */
const ROOT_MARK = '@R';

function underRoot(p: string, root: string): boolean {
  return root !== '/' && (p === root || p.startsWith(`${root}/`));
}

/** `text` with every path under `root` written relative to the mark (whole path components only). */
function portable(text: string, root: string): string {
  if (root === '/') return text;
  const re = new RegExp(
    `(^-[A-Za-z]+|^|[\\s=,:"'])${root.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?=$|[/\\s=,:"'])`,
    'g',
  );
  return text.replace(re, (_m, pre: string) => pre + ROOT_MARK);
}

function resolveMark(p: string, root: string | null): string {
  return root !== null && (p === ROOT_MARK || p.startsWith(`${ROOT_MARK}/`))
    ? root + p.slice(ROOT_MARK.length)
    : p;
}

/**
 * A compile's two manifest keys, or nulls when the compiler or the source cannot be read.
 * `here`: this folder's (the command line and working directory as they are). `portable`: paths
 * under `root` (the layout root R, client/cc/remote-layout.ts) in the command line and the
 * working directory written relative to it, so another checkout finds the same manifest; only
 * compiles whose farm result names no directory are recorded under it. `gateway`: the farm's URL
 * (the local keep's keys, client/cc/local-keep.ts, name `local` instead: never a farm's).
 */
export function manifestKeys(
  argv: string[],
  cwd: string,
  env: NodeJS.ProcessEnv,
  source: string,
  gateway: string,
  root: string,
  /** More environment variables the key covers (the local keep's: those that change diagnostics). */
  moreEnv: readonly string[] = [],
): { portable: string | null; here: string | null } {
  const compiler = compilerId(argv[0]!, env);
  const src = fileDigest(source);
  if (!compiler || !src) return { portable: null, here: null };
  const vars = [...ENV_KEYS, ...moreEnv].map((k) => [k, env[k] ?? null]);
  const key = (where: { argv: string[]; cwd: string }, portable: boolean): string =>
    sha256(JSON.stringify({ v: 1, compiler, ...where, vars, src, gateway, portable }));
  return {
    here: key({ argv, cwd }, false),
    portable: key({ argv: argv.map((a) => portable(a, root)), cwd: portable(cwd, root) }, true),
  };
}

function fileOf(dir: string, key: string): string {
  return path.join(dir, key.slice(0, 2), `${key}.json`);
}

function readEntries(dir: string, key: string): ManifestEntry[] {
  try {
    const parsed = JSON.parse(readFileSync(fileOf(dir, key), 'utf8')) as unknown;
    return Array.isArray(parsed) ? (parsed as ManifestEntry[]) : [];
  } catch {
    return [];
  }
}

/** The entry whose every file still has its digest, or null; paths of a portable one resolved under `root`. */
export function lookupManifest(dir: string, key: string, root: string | null): ManifestEntry | null {
  for (const e of readEntries(dir, key)) {
    if (e.files.every(([f, d]) => fileDigest(resolveMark(f, root)) === d)) {
      if (root === null || e.depfile === null) return e;
      return { ...e, depfile: e.depfile.replaceAll(`${ROOT_MARK}/`, root === '/' ? '/' : `${root}/`) };
    }
  }
  return null;
}

/**
 * Remembers a compile. `files` are the files the preprocessing read (absolute); none may have
 * changed since `startedMs` (a file edited during the compile could pair new contents with the
 * old result), else nothing is recorded.
 */
export function recordManifest(
  dir: string,
  key: string,
  files: string[],
  startedMs: number,
  entry: Omit<ManifestEntry, 'files'>,
  root: string | null,
): boolean {
  const keep = (f: string): string =>
    root !== null && underRoot(f, root) ? ROOT_MARK + f.slice(root.length) : f;
  const listed: [string, string | null][] = [];
  const started = BigInt(startedMs) * 1_000_000n;
  for (const f of files) {
    // One stat per file: the one the digest is judged by is the one checked against startedMs.
    const got = fileFacts(f);
    if (got === null) {
      listed.push([keep(f), null]);
      continue;
    }
    if (got.stat.mtimeNs > started || got.stat.ctimeNs > started) return false;
    listed.push([keep(f), got.facts?.digest ?? null]);
  }
  const depfile = root !== null && entry.depfile !== null ? portable(entry.depfile, root) : entry.depfile;
  const older = readEntries(dir, key).filter((e) => e.action !== entry.action);
  const entries = [{ ...entry, depfile, files: listed }, ...older].slice(0, MAX_ENTRIES);
  const file = fileOf(dir, key);
  try {
    mkdirSync(path.dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(entries));
    renameSync(tmp, file);
    return true;
  } catch {
    return false; // a manifest that cannot be written costs a preprocessing next time, nothing more
  }
}
