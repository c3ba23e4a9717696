/**
 * clang with DWARF 5 debug info (`-g` on clang 14 and later): its line table carries the MD5 of
 * every file named in it, which clang takes from the file itself. A compile of preprocessed text
 * has no files, only line markers, so its object has no sums and differs from a local one.
 *
 * So this compile goes to the farm as the local driver's own cc1 command (`clang -###`), run on
 * the builder against a virtual file system (`-ivfsoverlay`, `fallthrough: false`) that holds
 * exactly the files the local preprocessing read, at their local absolute paths, and nothing
 * else: the builder's clang reads the same bytes at the same names (relative ones too, from a
 * remote working directory that stands for the local one), and writes the object the local
 * compile would. A file the
 * local compile reads but the overlay lacks is an error there (the compile runs here then); one
 * it only probes with `__has_include` is added when it exists here (a probe with a macro operand
 * compiles here). The overlay names local paths, so such a cache entry serves this folder only.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { driverJobs } from './target.ts';

/** The builder's job directory (builders/core/sandbox.ts JOB_MOUNT) and this job's folder in it. */
const JOB_DIR = 'kiln';
const JOB_ROOT = `/job/${JOB_DIR}`;

/** Parses one line of `clang -###`: double-quoted words with backslash escapes. */
export function parseJobLine(line: string): string[] {
  const out: string[] = [];
  for (const m of line.matchAll(/"((?:[^"\\]|\\.)*)"/g)) out.push(m[1]!.replace(/\\(.)/g, '$1'));
  return out;
}

/** The local driver's cc1 command for `argv` (one job, `-cc1` first after the binary), or null. */
export async function cc1Command(
  argv: string[],
  cwd: string,
  env: NodeJS.ProcessEnv,
): Promise<string[] | null> {
  const out = await driverJobs(argv, cwd, env);
  if (!out || out.code !== 0) return null;
  const jobs = out.stderr
    .split('\n')
    .filter((l) => l.startsWith(' "'))
    .map(parseJobLine);
  return jobs.length === 1 && jobs[0]![1] === '-cc1' ? jobs[0]! : null;
}

/** cc1 options naming a directory searched for headers. */
const SEARCH = new Set([
  '-I',
  '-iquote',
  '-isystem',
  '-idirafter',
  '-internal-isystem',
  '-internal-externc-isystem',
  '-isysroot',
]);

const PROBE = /__has_include(?:_next)?\b/g;
const LITERAL_PROBE = /^__has_include(?:_next)?\s*\(\s*(?:<([^>\n]+)>|"([^"\n]+)")\s*\)/;

/**
 * The files a `__has_include` in `text` may find here, or null when one has a macro operand.
 * Each literal operand is looked for in every search directory and beside every file read.
 */
export function probedFiles(text: string, cc1: string[], read: string[], cwd: string): string[] | null {
  const names = new Set<string>();
  for (const m of text.matchAll(PROBE)) {
    const lit = LITERAL_PROBE.exec(text.slice(m.index));
    if (!lit) {
      // `#ifdef __has_include` and `defined(__has_include)` only ask whether it exists.
      const before = text.slice(Math.max(0, m.index - 12), m.index);
      if (/(?:ifdef|ifndef|defined)\s*\(?\s*$/.test(before)) continue;
      return null;
    }
    names.add(lit[1] ?? lit[2]!);
  }
  if (!names.size) return [];
  const dirs = new Set<string>(read.map((f) => path.dirname(f)));
  for (let i = 0; i < cc1.length - 1; i++)
    if (SEARCH.has(cc1[i]!)) dirs.add(path.resolve(cwd, cc1[i + 1]!));
    else {
      const joined = /^-(I|isystem|iquote|idirafter)(.+)$/.exec(cc1[i]!);
      if (joined) dirs.add(path.resolve(cwd, joined[2]!));
    }
  const found: string[] = [];
  for (const d of dirs)
    for (const n of names) {
      const f = path.resolve(d, n);
      try {
        if (statSync(f).isFile()) found.push(f);
      } catch {
        // not here, so not on the builder either
      }
    }
  return found;
}

/** cc1's depfile options (the local preprocessing wrote the depfile already). */
const DEP_SEPARATE = new Set(['-dependency-file', '-MT', '-MQ']);
const DEP_ALONE = new Set(['-sys-header-deps', '-MP', '-MV', '-module-file-deps']);

function withoutDepfile(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (DEP_SEPARATE.has(args[i]!)) i++;
    else if (!DEP_ALONE.has(args[i]!)) out.push(args[i]!);
  }
  return out;
}

export interface VfsJob {
  argv: string[];
  cwd: string;
  files: [string, Buffer][];
  output: string;
}

/**
 * The farm job for a cc1 command: `files` (absolute local paths, every one that exists) in an
 * overlay, the object at `<cwd>/out.o` of the job directory.
 */
export function vfsJob(cc1: string[], files: string[], cwd: string): VfsJob | null {
  const args = withoutDepfile(cc1.slice(2));
  const o = args.indexOf('-o');
  if (o < 0 || args.includes('-ivfsoverlay') || args.includes('-working-directory')) return null;
  args[o + 1] = `${JOB_ROOT}/out.o`;
  // Each file at its local path and again below the job's folder, where the remote working
  // directory stands for the local one: a relative name resolves to the same file, and stays
  // relative (`__FILE__`, debug info) as it does locally. (`-working-directory` would make it absolute.)
  const shipped: [string, Buffer][] = [];
  const roots: { type: 'file'; name: string; 'external-contents': string }[] = [];
  for (const f of new Set(files)) {
    if (!existsSync(f)) continue;
    const contents = `${JOB_ROOT}/vfs/${shipped.length}`;
    shipped.push([`${JOB_DIR}/vfs/${shipped.length}`, readFileSync(f)]);
    for (const name of [f, `${JOB_ROOT}${f}`])
      roots.push({ type: 'file', name, 'external-contents': contents });
  }
  const overlay = {
    version: 0,
    'case-sensitive': 'true',
    'use-external-names': false,
    fallthrough: false,
    roots,
  };
  shipped.push([`${JOB_DIR}/vfs.yaml`, Buffer.from(JSON.stringify(overlay))]);
  const remoteCwd = `${JOB_DIR}${cwd}`;
  shipped.push([`${remoteCwd}/.kiln-cwd`, Buffer.alloc(0)]);
  return {
    argv: [path.basename(cc1[0]!), '-cc1', ...args, '-ivfsoverlay', `${JOB_ROOT}/vfs.yaml`],
    cwd: remoteCwd,
    files: shipped,
    output: `${JOB_DIR}/out.o`,
  };
}
