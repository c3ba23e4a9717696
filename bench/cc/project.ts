/**
 * A real project that bench:cc builds every way: where its source comes from, how a fresh tree
 * is made ready (untimed), the timed build, how to clean it for a warm build in the same folder,
 * and its own checks. Plus what every project shares: its objects and the diagnostics in a log.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';

/** The compiler as a build is told it: launcher words (distcc, ccache, kiln-cc…) before the compiler. */
export interface Compiler {
  /** [] for a local build; CMake gets them as CMAKE_C_COMPILER_LAUNCHER. */
  launcher: string[];
  /** The compiler itself (`gcc`). */
  cc: string;
}

/** The compiler as one `CC=` value. */
export const ccLine = (c: Compiler, extra = ''): string =>
  [...c.launcher, c.cc, ...(extra ? [extra] : [])].join(' ');

export interface BuildCommand {
  cmd: string;
  args: string[];
  cwd: string;
}

export interface Checked {
  ok: boolean;
  /** What failed, or what ran. */
  text: string;
  /** Output that must equal the local build's (the same program gives the same answers). */
  output: string;
}

export interface Project {
  /** Short name: tables, folders. */
  name: string;
  /** The Debian source package (`apt-get source --download-only <package>`). */
  package: string;
  /** A file that marks the upstream tree inside the `.orig` tarball. */
  marker: string;
  /** One line for the heading: the build system and the flags. */
  describe: string;
  /** Untimed: make a fresh copy of the tree ready to build with `c` (configure it). */
  setup(dir: string, c: Compiler, env: NodeJS.ProcessEnv): Promise<void>;
  /** The timed build, with `jobs` parallel compiles. */
  build(dir: string, c: Compiler, jobs: number): BuildCommand;
  /** Untimed: remove what the build made, so the next build in this folder compiles everything. */
  clean(dir: string, env: NodeJS.ProcessEnv): Promise<void>;
  /**
   * The project's own checks on a built tree: `full` runs its test suite, else a quick smoke
   * test (the suite takes minutes on a loaded machine).
   */
  check(dir: string, full: boolean): Promise<Checked>;
}

/** Every `.o` under `dir`, by path relative to it. */
export async function objects(dir: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!e.isFile() || !e.name.endsWith('.o')) continue;
    const p = join(e.parentPath, e.name);
    out.set(relative(dir, p), await readFile(p));
  }
  return out;
}

/** "n/m": how many of the reference's objects `got` has with the same bytes. */
export function sameCount(got: Map<string, Buffer>, ref: Map<string, Buffer>): string {
  let same = 0;
  for (const [p, b] of ref) if (got.get(p)?.equals(b)) same++;
  return `${same}/${ref.size}`;
}

/**
 * The compiler diagnostics in a build log (`file:line:col: warning: …` and their notes), sorted
 * (parallel builds interleave them), with the tree's folder written as `<tree>`.
 */
export function diagnostics(log: string, dir: string): string[] {
  return log
    .split('\n')
    .filter((l) => /\b(?:warning|error|note|fatal error):/.test(l) && !/^make(?:\[\d+\])?: /.test(l))
    .map((l) => l.replaceAll(dir, '<tree>'))
    .sort();
}
