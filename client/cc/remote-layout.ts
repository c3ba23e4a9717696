/**
 * Where a remote compile runs, and how its text is made the same for every checkout.
 *
 * The builder's job directory is `/job`. The local directory tree rooted at R (the deepest
 * directory holding the working directory, the source and, with a base directory, every file
 * under it that the compile read) is mirrored at P, a directory under `/job`: the remote working
 * directory is P plus the local one's path below R, the source text sits where the source does,
 * and every line marker and compile option naming a path under R names it under P instead.
 * Relative paths stay as they are. So the remote compile sees the same tree as the local one,
 * only rooted elsewhere, and its command line and text never name R: two checkouts of a project
 * send the same job and share its cache entry.
 *
 * P is `/job/kiln` (for every checkout, so its text and command line are the same). What comes back names P only where a local object would name R (debug info,
 * `__FILE__` of a file under R):
 * - `fixed` layout: nothing more. An object that does not contain P is what a local compile
 *   gives in any checkout; one that does is compiled again in a `mapped` layout.
 * - `mapped` layout (compiles with `-g`, whose debug info always names the working directory):
 *   the compile also gets `-fdebug-prefix-map` and `-fmacro-prefix-map` from P to R (through the
 *   user's own maps), so the object names R exactly as a local one does. Its command line names
 *   R, so such an entry serves only this checkout, unless the user's maps take R out of the
 *   object (`-ffile-prefix-map=R=.`): then the fixed layout's object is already right and shared.
 * (Replacing P's bytes by R's in the object cannot work: gcc orders its debug strings by hash.)
 */
import { statSync } from 'node:fs';
import path, { type PlatformPath } from 'node:path';
import { treePath } from '../paths.ts';
import { asCppText, renameMarkers, withoutRanges, type CppText, type TextLike } from './cpp-text.ts';

/** The job directory on the builder (builders/core/sandbox.ts JOB_MOUNT). */
const JOB = '/job';

export type LayoutKind = 'fixed' | 'mapped';

export interface RemoteLayout {
  kind: LayoutKind;
  /** R: the local directory the remote root stands for. */
  root: string;
  /** P: the remote root, an absolute path under /job. */
  remoteRoot: string;
  /** The remote working directory, relative to the job directory. */
  cwd: string;
  /** Where the text goes, relative to the job directory. */
  sourcePath: string;
  /** The text with line markers under R renamed under P. */
  text: Buffer;
  /** The compile command line with paths under R renamed under P. */
  argv: string[];
  /** Where the object comes out, relative to the job directory. */
  output: string;
}

/**
 * The working directory as the compiler names it: `$PWD` when it is absolute and names the same
 * directory (gcc's getpwd and clang do this), else the physical path.
 */
export function compilerCwd(cwd: string, env: NodeJS.ProcessEnv): string {
  const pwd = env.PWD;
  if (!pwd || !path.isAbsolute(pwd) || pwd === cwd) return cwd;
  try {
    const a = statSync(pwd);
    const b = statSync(cwd);
    return a.ino === b.ino && a.dev === b.dev ? path.normalize(pwd).replace(/\/$/, '') || '/' : cwd;
  } catch {
    return cwd;
  }
}

function under(p: string, dir: string, pp: PlatformPath = path.posix): boolean {
  if (pp.sep === '\\') return p.toLowerCase() === dir.toLowerCase() || treePath(dir, p, pp) !== null;
  return dir === '/' ? p.startsWith('/') : p === dir || p.startsWith(`${dir}/`);
}

function commonDir(a: string, b: string, pp: PlatformPath = path.posix): string {
  const win = pp.sep === '\\';
  const x = win ? pp.normalize(a).split(/[\\/]/) : a.split('/');
  const y = win ? pp.normalize(b).split(/[\\/]/) : b.split('/');
  const same = (s: string, t: string): boolean => (win ? s.toLowerCase() === t.toLowerCase() : s === t);
  let i = 0;
  while (i < x.length && i < y.length && same(x[i]!, y[i]!)) i++;
  if (win) return i === 0 ? '' : x.slice(0, i).join('\\') + (i === 1 ? '\\' : '');
  return x.slice(0, i).join('/') || '/';
}

/** The paths the text's line markers name, unescaped (each once, in order). */
const namesOf = new WeakMap<CppText, string[]>();
function markerNames(t: CppText): string[] {
  let names = namesOf.get(t);
  if (!names) {
    names = [...new Set(t.markers.map((m) => m.name))];
    namesOf.set(t, names);
  }
  return names;
}

/** The absolute paths the text's line markers name (each once), by the client OS's rules. */
export function markerPaths(text: TextLike, pp: PlatformPath = path): string[] {
  return markerNames(asCppText(text)).filter(
    (f) => pp.isAbsolute(f) && (pp.sep === '\\' || f.startsWith('/')),
  );
}

/** Every path the text's line markers name, absolute or not (each once), without `<built-in>` and the like. */
export function markerFiles(text: TextLike): string[] {
  return markerNames(asCppText(text)).filter(
    (f) => !f.startsWith('<') && !f.endsWith('//') && !/[\\/]{2}$/.test(f),
  );
}

/** The end of the line at `at`: the offset after its newline, or END when it is the last line. */
const END = -1;
function lineEnd(b: Buffer, at: number): number {
  const nl = b.indexOf(0x0a, at);
  return nl < 0 ? END : nl + 1;
}

/**
 * gcc `-fdirectives-only` text as the remote compile needs it: without the built-in macro
 * definitions (the remote compiler makes the same ones: from a `<built-in>` marker to the next
 * other marker) and without the working-directory line (`# 1 "/dir//"` as the second line, which
 * only `-fpreprocessed` reads). Lines are dropped as from the text's lines joined by newlines: a
 * dropped last line takes the newline before it.
 */
export function stripGccPreamble(text: TextLike): CppText {
  const t = asCppText(text);
  const b = t.bytes;
  const second = b.indexOf(0x0a) + 1;
  const drop: [number, number][] = [];
  const add = (from: number, to: number): void => {
    const last = drop[drop.length - 1];
    if (last && last[1] === from) last[1] = to;
    else drop.push([from, to]);
  };
  let builtin = -1;
  for (const m of t.markers) {
    if (m.name === '<built-in>') {
      if (builtin < 0) builtin = m.line;
      continue;
    }
    if (builtin >= 0) add(builtin, m.line);
    builtin = -1;
    if (second > 0 && m.line === second && m.name.endsWith('//')) add(m.line, lineEnd(b, m.line));
  }
  if (builtin >= 0) add(builtin, END);
  const last = drop[drop.length - 1];
  if (last && last[1] === END) {
    last[1] = b.length;
    if (last[0] > 0) last[0]--;
  }
  return withoutRanges(t, drop);
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * R: the working directory, the source's directory, every directory above the working directory
 * that one of the user's prefix maps names (`argv`: the compile command line), and, under
 * `baseDir`, every directory the markers name.
 *
 * The maps count because a map of a directory above the working directory
 * (`-ffile-prefix-map=/home/me/proj=.` for a compile in `/home/me/proj/lib`, as automake's
 * subdirectories and Debian's build flags have it) takes the folder out of the object only when
 * the remote compile's map names the same directory under P: outside R it would keep the local
 * path, and split the cache by checkout.
 */
export function layoutRoot(
  cwd: string,
  source: string,
  markers: string[],
  baseDir: string | null,
  pp: PlatformPath = path,
  argv: string[] = [],
): string {
  let root = commonDir(cwd, pp.dirname(source), pp);
  for (const kind of ['debug', 'macro'] as const)
    for (const [old] of userMaps(argv, kind)) {
      const dir = old.length > 1 ? old.replace(pp.sep === '\\' ? /[\\/]+$/ : /\/+$/, '') : old;
      if (dir !== pp.sep && pp.isAbsolute(dir) && under(cwd, dir, pp)) root = commonDir(root, dir, pp);
    }
  if (baseDir && under(cwd, baseDir, pp))
    for (const m of markers) if (under(m, baseDir, pp)) root = commonDir(root, pp.dirname(m), pp);
  return root;
}

type PrefixMap = [old: string, replacement: string];

/** The user's prefix maps of one kind, in command-line order (`-ffile-prefix-map` counts for both). */
function userMaps(argv: string[], kind: 'debug' | 'macro'): PrefixMap[] {
  const own = kind === 'debug' ? '-fdebug-prefix-map=' : '-fmacro-prefix-map=';
  const maps: PrefixMap[] = [];
  for (const a of argv) {
    const v = a.startsWith(own)
      ? a.slice(own.length)
      : a.startsWith('-ffile-prefix-map=')
        ? a.slice(18)
        : null;
    const eq = v?.indexOf('=') ?? -1;
    if (v !== null && v !== undefined && eq >= 0) maps.push([v.slice(0, eq), v.slice(eq + 1)]);
  }
  return maps;
}

/** A path as gcc's remap_filename gives it: the last map given whose old prefix begins it. */
function remap(p: string, maps: PrefixMap[]): string {
  for (let i = maps.length - 1; i >= 0; i--)
    if (p.startsWith(maps[i]![0])) return maps[i]![1] + p.slice(maps[i]![0].length);
  return p;
}

/**
 * The maps from P to R (as the user's maps would name R), placed before the user's own so those
 * take precedence; a user map of P itself makes ours unnecessary.
 */
function rootMaps(root: string, remoteRoot: string, original: string[], renamed: string[]): string[] {
  const out: string[] = [];
  for (const [kind, flag] of [
    ['debug', '-fdebug-prefix-map='],
    ['macro', '-fmacro-prefix-map='],
  ] as const) {
    const target = remap(root, userMaps(original, kind));
    const given = new Set(userMaps(renamed, kind).map((m) => m[0]));
    if (!given.has(remoteRoot)) out.push(`${flag}${remoteRoot}=${target}`);
    if (!given.has(`${remoteRoot}/`))
      out.push(`${flag}${remoteRoot}/=${target.endsWith('/') ? target : `${target}/`}`);
  }
  return out;
}

/** Does the command line carry prefix maps of the user's? */
export function hasUserMaps(argv: string[]): boolean {
  return argv.some((a) => /^-f(?:debug|macro|file)-prefix-map=/.test(a));
}

export interface LayOutOptions {
  /** The client's path rules (path.win32 for a Windows client). @default node:path of this OS */
  pathRules?: PlatformPath;
  /**
   * clang-cl's mapped layout (`/Z7`): CodeView names the working directory, the object and the
   * command line, which prefix maps do not all reach, so the text and the command line keep their
   * local paths and the compile is told the local working directory and object path (this object).
   */
  clObject?: string;
}

/**
 * Lays a compile out under /job. `text` is the preprocessed text (client/cc/cpp-text.ts),
 * `argv` the compile command line from args.ts (ending `-c <sourceArg> -o out.o`). Null when a
 * path holds characters that line markers escape. `jobDir` is the builder's job directory (tests
 * lay a compile out in a temporary one).
 */
export function layOut(
  kind: LayoutKind,
  root: string,
  cwd: string,
  source: string,
  sourceArg: string,
  text: TextLike,
  argv: string[],
  jobDir = JOB,
  opts: LayOutOptions = {},
): RemoteLayout | null {
  const pp = opts.pathRules ?? path;
  const win = pp.sep === '\\';
  if ((win ? /["\n]/ : /["\\\n]/).test(root) || !under(cwd, root, pp) || !under(source, root, pp))
    return null;
  const remoteRoot = `${jobDir}/kiln`;
  const rename = win
    ? (p: string): string => {
        const rel = treePath(root, p, pp);
        return rel === null ? remoteRoot : `${remoteRoot}/${rel}`;
      }
    : (p: string): string => (root === '/' ? remoteRoot + p : remoteRoot + p.slice(root.length));
  const remoteCwd = rename(cwd);
  const job = (p: string): string => path.posix.relative(jobDir, p) || '.';
  // A Windows client's source argument, as the builder's compiler must name it (POSIX ones stay as given).
  const remoteSource = !win
    ? sourceArg
    : pp.isAbsolute(sourceArg)
      ? rename(source)
      : sourceArg.split('\\').join('/');
  const common = {
    kind,
    root,
    remoteRoot,
    cwd: job(remoteCwd),
    sourcePath: job(rename(source)),
    output: path.posix.join(job(remoteCwd), 'out.o'),
  };
  const withSource = (args: string[]): string[] => args.map((a) => (a === sourceArg ? remoteSource : a));
  if (kind === 'mapped' && opts.clObject !== undefined) {
    const compDir = [`/clang:-fdebug-compilation-dir=${cwd}`, `/clang:-fcoverage-compilation-dir=${cwd}`];
    const args = [argv[0]!, ...compDir, '-Xclang', `-object-file-name=${opts.clObject}`, ...argv.slice(1)];
    return { ...common, text: asCppText(text).bytes, argv: withSource(args) };
  }
  const rootRe = win
    ? new RegExp(`(^|[=,:])${escapeRe(root).replace(/\\\\/g, '[\\\\/]')}(?=$|[\\\\/=:,])`, 'gi')
    : root === '/'
      ? /(^|[=,:])(?=\/)/g
      : new RegExp(`(^|[=,:])${escapeRe(root)}(?=$|[/=:,])`, 'g');
  // Line markers under R name it under P (on POSIX only names without escapes, as ever).
  const renamed = renameMarkers(
    asCppText(text),
    win
      ? (m) => (pp.isAbsolute(m.name) && under(m.name, root, pp) ? rename(m.name) : null)
      : (m) => (!m.escaped && m.name.startsWith('/') && under(m.name, root) ? rename(m.name) : null),
  );
  let args = withSource(argv).map((a) => a.replace(rootRe, (_m, pre: string) => pre + remoteRoot));
  if (kind === 'mapped') args = [args[0]!, ...rootMaps(root, remoteRoot, argv, args), ...args.slice(1)];
  return { ...common, text: renamed, argv: args };
}

/** Does `buf` name the remote root? */
export function namesRemoteRoot(buf: Buffer, layout: RemoteLayout): boolean {
  return buf.includes(layout.remoteRoot, 0, 'latin1');
}
