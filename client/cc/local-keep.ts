/**
 * The local keep: compiles that kiln cc runs here by design (client/cc/compile.ts: `__COUNTER__`
 * in a directive, diagnostics, `#pragma push_macro`, …) are kept on this machine like ccache keeps
 * its results, so the next identical compile is answered without running the compiler.
 *
 * - **Key**: a direct-mode manifest (client/cc/manifest.ts) under keys of its own: the compiler
 *   binary, the command line as run (colour options included), the working directory, the
 *   environment variables the direct mode covers plus those that change diagnostics
 *   ({@link DIAGNOSTIC_ENV}), the source's SHA-256; its entry lists every file the compile read
 *   (the line markers of a plain `-E` run, RemotePlan.listArgv) with the SHA-256 of its contents
 *   (client/cc/file-digests.ts: never mtime alone). A portable key (paths under the layout root R
 *   relative, as the direct mode's) when nothing the compile gave names R and every file it read
 *   is under R or named absolutely outside it; else this folder's own key.
 * - **Outputs**: object, stdout, stderr (exit 0 only) in the recent results store
 *   (client/cc/results.ts, under the gateway name {@link KEEP_GATEWAY}, bounded by
 *   `KILN_CC_RESULTS_MB` with the farm's results), by the SHA-256 of their contents, checked on
 *   every hit; the depfile's text in the manifest entry.
 * - **Never kept**: a failed compile; one whose outputs depend on time or on files the list does
 *   not name: `__DATE__`, `__TIME__`, `__TIMESTAMP__` in a file read or on the command line (or a
 *   date or time string in the preprocessed text: a pasted `__DA ## TE__`), `.incbin`,
 *   `#pragma GCC dependency`; clang-cl; a compile whose stdout or stderr is a terminal (it colours
 *   by itself).
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import type { ActionResultView } from '../../protocol/action.ts';
import type { RemotePlan } from './args.ts';
import { cppText } from './cpp-text.ts';
import { place } from './direct.ts';
import { sha256 } from './file-digests.ts';
import { runLocal } from './local.ts';
import { lookupManifest, manifestDir, manifestKeys, recordManifest } from './manifest.ts';
import { preprocess } from './preprocess.ts';
import { compilerCwd, layoutRoot, markerFiles } from './remote-layout.ts';
import { dropResult, keepResult, readResult, resultsBound, resultsDir } from './results.ts';
import { recordEvent } from './stats.ts';

/** The gateway name under which the results store keeps local compiles' outputs (no URL is one). */
export const KEEP_GATEWAY = 'local';
/** Where a kept compile's object is among its result's files. */
const OBJECT = 'out.o';
/** Environment variables that change a compile's diagnostics (colours, links, width, language). */
const DIAGNOSTIC_ENV = [
  'GCC_COLORS',
  'GCC_URLS',
  'TERM_URLS',
  'TERM',
  'COLUMNS',
  'LANGUAGE',
  'GCC_EXTRA_DIAGNOSTIC_OUTPUT',
  'GCC_COMPARE_DEBUG',
];
/** Macros whose value is the time of the compile or of a file. */
const TIME_MACROS = ['__DATE__', '__TIME__', '__TIMESTAMP__'];
/** Words in a file read that make the object depend on time or on a file the list does not name. */
const UNKEPT_WORDS = [...TIME_MACROS, '.incbin'];
/** A `__DATE__` or `__TIME__` expansion in preprocessed text, however the macro was spelt. */
const TIME_STRING = /"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ \d]\d \d{4}"|"\d\d:\d\d:\d\d"/;
const PRAGMA_DEPENDENCY = /^[ \t]*#[ \t]*pragma[ \t]+(?:GCC[ \t]+)?dependency\b/m;

/** What the keep needs to know of one compile. */
export interface Keep {
  /** The command line as it runs here (the compiler first, colour options included). */
  argv: string[];
  /** The compiler's working directory (client/cc/remote-layout.ts compilerCwd). */
  cwd: string;
  /** The manifests directory (client/cc/manifest.ts). */
  dir: string;
  /** The layout root R of the portable key. */
  root: string;
  portable: string | null;
  here: string;
}

const isTty = (s: Writable): boolean => (s as { isTTY?: boolean }).isTTY === true;

/** The keep's keys for a compile that runs as `runArgv`, or null when it has none (clang-cl, no room, unreadable). */
export function keepFor(
  plan: RemotePlan,
  runArgv: string[],
  io: { cwd: string; env: NodeJS.ProcessEnv },
): Keep | null {
  if (!plan.listArgv || resultsBound(io.env) === 0) return null;
  const cwd = compilerCwd(io.cwd, io.env);
  const root = layoutRoot(cwd, path.resolve(cwd, plan.sourceArg), [], null, undefined, plan.compileArgv);
  const keys = manifestKeys(runArgv, cwd, io.env, plan.source, KEEP_GATEWAY, root, DIAGNOSTIC_ENV);
  if (!keys.here) return null;
  const portable = root === '/' ? null : keys.portable;
  return { argv: runArgv, cwd, dir: manifestDir(io.env), root, portable, here: keys.here };
}

/** The digest a kept result is stored and checked by: of everything it gives. */
function resultKey(r: ActionResultView): string {
  return sha256(
    JSON.stringify({ v: 1, exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr, files: r.files }),
  );
}

/**
 * Answers a compile from the keep: writes its depfile, stdout, stderr and object as the compile
 * did. False when no entry matches (or its result is gone or damaged: then it is dropped).
 */
export async function keepHit(
  plan: RemotePlan,
  keep: Keep,
  io: { env: NodeJS.ProcessEnv; stdout: Writable; stderr: Writable },
  /**
   * stderr is a terminal, where the compiler colours by itself: an entry with diagnostics is no
   * hit. (Behind the native front the colour option it adds is in the key, and the entry's
   * diagnostics are coloured as the compile's.)
   */
  terminal: boolean,
  verbose: boolean,
): Promise<boolean> {
  const results = resultsDir(keep.dir);
  for (const [key, root] of [
    [keep.portable, keep.root],
    [keep.here, null],
  ] as const) {
    if (!key) continue;
    const entry = lookupManifest(keep.dir, key, root);
    if (!entry) continue;
    const result = readResult(results, KEEP_GATEWAY, entry.action);
    if (result && resultKey(result) !== entry.action) dropResult(results, KEEP_GATEWAY, entry.action);
    const obj = result?.files.find((f) => f.path === OBJECT);
    if (!result || !obj || resultKey(result) !== entry.action || (terminal && result.stderr !== '')) continue;
    if (plan.depfile && entry.depfile !== null) await place(plan.depfile, entry.depfile);
    io.stdout.write(Buffer.from(result.stdout, 'base64'));
    io.stderr.write(Buffer.from(result.stderr, 'base64'));
    await place(plan.output, Buffer.from(obj.data, 'base64'));
    recordEvent('keep', undefined, { env: io.env });
    if (verbose)
      io.stderr.write(`kiln cc: kept local compile (${entry.action.slice(0, 16)}), not compiled\n`);
    return true;
  }
  return false;
}

/** A Writable that collects what is written. */
function collector(into: Buffer[]): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, done) {
      into.push(chunk);
      done();
    },
  });
}

/** Whether the keep may capture this compile's output (a terminal would be lost: the compiler colours on one). */
export function canCapture(io: { stdout: Writable; stderr: Writable }): boolean {
  return !isTty(io.stdout) && !isTty(io.stderr);
}

/**
 * Runs the compile here with its output captured, writes that output as it came, and keeps the
 * compile when it succeeded and may be kept. Resolves to the compiler's exit code.
 */
export async function runAndKeep(
  plan: RemotePlan,
  keep: Keep,
  io: { cwd: string; env: NodeJS.ProcessEnv; stdout: Writable; stderr: Writable },
): Promise<number> {
  const startedMs = Date.now();
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const code = await runLocal(keep.argv, {
    cwd: io.cwd,
    env: io.env,
    stdout: collector(out),
    stderr: collector(err),
  });
  const stdout = Buffer.concat(out);
  const stderr = Buffer.concat(err);
  if (stdout.length > 0) io.stdout.write(stdout);
  if (stderr.length > 0) io.stderr.write(stderr);
  // A keep that cannot be written costs a compile next time, nothing more.
  if (code === 0) await keepCompile(plan, keep, startedMs, stdout, stderr, io).catch(() => false);
  return code;
}

/** Does any file (or the command line) hold a word that makes the compile unfit to keep? */
function unfit(files: string[], argv: string[]): boolean {
  if (argv.some((a) => TIME_MACROS.some((m) => a.includes(m)))) return true;
  return files.some((f) => {
    let bytes: Buffer;
    try {
      bytes = readFileSync(f);
    } catch {
      return false; // nothing was read from it (a marker naming no file, or gone: then no entry matches)
    }
    return UNKEPT_WORDS.some((w) => bytes.includes(w));
  });
}

const under = (p: string, root: string): boolean => p === root || p.startsWith(`${root}/`);

/** Keeps a compile that succeeded here; true when an entry was recorded. */
async function keepCompile(
  plan: RemotePlan,
  keep: Keep,
  startedMs: number,
  stdout: Buffer,
  stderr: Buffer,
  io: { cwd: string; env: NodeJS.ProcessEnv },
): Promise<boolean> {
  const listed = await preprocess(plan.listArgv!, io.cwd, io.env);
  if (listed.code !== 0) return false;
  const latin1 = listed.text.toString('latin1');
  if (TIME_STRING.test(latin1) || PRAGMA_DEPENDENCY.test(latin1)) return false;
  const names = markerFiles(cppText(listed.text));
  const files = [...new Set([plan.source, ...names.map((f) => path.resolve(keep.cwd, f))])];
  if (unfit(files, keep.argv)) return false;
  const obj = await readFile(plan.output);
  if (obj.byteLength * 2 > resultsBound(io.env) / 8) return false;
  const depfile = plan.depfile ? await readFile(plan.depfile, 'utf8').catch(() => null) : null;
  if (plan.depfile && depfile === null) return false;
  const result: ActionResultView = {
    exitCode: 0,
    stdout: stdout.toString('base64'),
    stderr: stderr.toString('base64'),
    files: [{ path: OBJECT, data: obj.toString('base64'), executable: false }],
    missing: [],
    createdAt: new Date().toISOString(),
  };
  const action = resultKey(result);
  // Another checkout gives the same bytes only if none names this one's folder, and it reads the
  // same files: those under R (found relative to it there) or named absolutely outside R.
  const root = keep.root;
  const portable =
    keep.portable !== null &&
    ![obj, stdout, stderr].some((b) => b.includes(root)) &&
    !keep.argv.some((a) => /^-gz|compress-debug/.test(a)) &&
    names.every((f) => path.isAbsolute(f) || under(path.resolve(keep.cwd, f), root));
  const key = portable ? keep.portable! : keep.here;
  const entry = { action, output: OBJECT, depfile };
  if (!recordManifest(keep.dir, key, files, startedMs, entry, portable ? root : null)) return false;
  keepResult(resultsDir(keep.dir), KEEP_GATEWAY, action, result, io.env);
  return true;
}
