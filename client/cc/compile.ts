/**
 * `kiln cc <compiler> <args…>`: a single-source `-c` compile is preprocessed here (writing the
 * depfile exactly where the compiler would), compiled on the farm in ONE round trip (the fast
 * path: inline input, wait, inline result; the action cache answers repeats), and its object
 * written where the compiler would. Anything else runs locally. Any farm failure compiles
 * locally and is counted.
 *
 * Diagnostics are always the local compiler's: the farm's result is used only when neither the
 * preprocessing nor the remote compile printed anything and the compile succeeded; otherwise
 * the compile runs here, so warnings, errors, their source excerpts and colours are exactly a
 * local compile's (the distcc rule for failures, applied to every diagnostic). A compile that
 * runs here for such a reason is kept when it succeeds (client/cc/local-keep.ts), and the next
 * identical one is answered from that keep before anything runs.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Writable } from 'node:stream';
import type { JobView } from '../../protocol/job.ts';
import { analyzeCompile, describePlan, type RemotePlan } from './args.ts';
import { cc1Command, probedFiles, vfsJob } from './clang-vfs.ts';
import { colourArgs } from './colour.ts';
import { mentionsPushMacro } from './header-scan.ts';
import { INLINE_FILES, INLINE_MAX, TEXT_MAX, uploadTextTree } from './big-input.ts';
import { directHit, place } from './direct.ts';
import { FarmError } from '../errors.ts';
import type { Api } from '../http.ts';
import type { Front } from './front-steps.ts';
import { fallbackReason, isSignatureRefusal, runJob } from './farm-job.ts';
import { manifestDir, manifestKeys, recordManifest } from './manifest.ts';
import { runLocal } from './local.ts';
import { canCapture, keepFor, keepHit, runAndKeep } from './local-keep.ts';
import { keepResult, resultOfJob, resultsDir } from './results.ts';
import { onlyOptionWarnings } from './option-warnings.ts';
import { preprocess } from './preprocess.ts';
import { cppText, holds, type CppText } from './cpp-text.ts';
import {
  compilerCwd,
  layOut,
  layoutRoot,
  markerFiles,
  markerPaths,
  hasUserMaps,
  namesRemoteRoot,
  stripGccPreamble,
  type LayoutKind,
  type RemoteLayout,
} from './remote-layout.ts';
import { ccSettings, presetFor, type CcSettings } from './settings.ts';
import { recordEvent } from './stats.ts';
import { localTarget, namedTarget, namesTarget, withTarget } from './target.ts';
import { presetTargets, targetsInclude } from './preset-targets.ts';

export interface CcIo {
  cwd: string;
  env: NodeJS.ProcessEnv;
  stdout: Writable;
  stderr: Writable;
  /** The native front, when it runs the commands (client/cc/front-steps.ts): preprocessing, local compiles. */
  front?: Front;
}

/** Macros whose value the remote compile would take from the builder's clock or files. */
const HOST_MACROS = ['__DATE__', '__TIME__', '__TIMESTAMP__'];
/**
 * `__COUNTER__` in a directive that the local preprocessing evaluates (gnulib's verify.h has
 * `#if defined __COUNTER__ && __COUNTER__ != __COUNTER__`): gcc -fdirectives-only refuses it with
 * this error; clang -frewrite-includes expands it (its text says `#if 1 /* evaluated … *\/`), so
 * the remote compile would count from 0 again and number everything after it differently.
 */
const GCC_COUNTER_ERROR = '__COUNTER__ expanded inside directive with -fdirectives-only';
const COUNTER_DIRECTIVE = /^[ \t]*#[ \t]*(?:if|elif|include|include_next|import)\b[^\n]*__COUNTER__/m;
const COUNTER_LOCAL = '__COUNTER__ in #if or #include (counted by the local preprocessing)';

/** The locale of diagnostics (gcc's quote characters follow it), as the local compiler would see it. */
function localeEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  return { LC_ALL: env.LC_ALL || env.LC_MESSAGES || env.LANG || 'C' };
}

/**
 * Not a farm failure: this compile is one the farm cannot give exactly (a local reason for stats).
 * It runs here, and its outputs are kept (client/cc/local-keep.ts) unless `keepable` is false.
 */
class CompileHere extends Error {
  readonly keepable: boolean;
  constructor(reason: string, keepable = true) {
    super(reason);
    this.keepable = keepable;
  }
}

const ON_A_TERMINAL = "clang's option warnings on a terminal (compiled here, in colour)";

/** What a farm job sends: its command line, working directory, files and object (job-relative). */
interface JobFiles {
  argv: string[];
  cwd: string;
  files: [string, Buffer][];
  output: string;
}

async function jobSpec(j: JobFiles, preset: string | undefined, s: CcSettings, api: Api, io: CcIo) {
  const size = j.files.reduce((n, [, data]) => n + data.byteLength, 0);
  // Over the inline limits, the files go through the blob store (one upload, then by digest).
  const input =
    size > INLINE_MAX || j.files.length > INLINE_FILES
      ? { tree: await uploadTextTree(api, j.files) }
      : { inline: j.files.map(([path, data]) => ({ path, data })) };
  return {
    argv: j.argv,
    cwd: j.cwd,
    ...input,
    env: localeEnv(io.env),
    outputs: [j.output],
    cache: true,
    inlineResult: true,
    limits: { timeoutSec: s.timeoutSec },
    ...(preset ? { toolchain: preset } : {}),
  };
}

/** The files of a compile of `layout`'s text. */
function layoutFiles(layout: RemoteLayout, argv0: string): JobFiles {
  const files: [string, Buffer][] = [[layout.sourcePath, layout.text]];
  // The working directory must exist when the source lies outside it (CMake's build directory).
  if (!layout.sourcePath.startsWith(`${layout.cwd}/`))
    files.push([`${layout.cwd}/.kiln-cwd`, Buffer.alloc(0)]);
  return { argv: [argv0, ...layout.argv.slice(1)], cwd: layout.cwd, files, output: layout.output };
}

/** clang-cl's `/showIncludes` lines, which it prints on stderr with `/E` and on stdout when compiling. */
const SHOW_INCLUDES = /^Note: including file: /;

/** Splits the preprocessing's stderr into `/showIncludes` lines (when asked for) and the rest. */
function splitShown(stderr: Buffer, show: boolean): { shown: Buffer; rest: Buffer } {
  if (!show || stderr.length === 0) return { shown: Buffer.alloc(0), rest: stderr };
  const lines = stderr.toString('latin1').split(/(?<=\n)/);
  const shown = lines.filter((l) => SHOW_INCLUDES.test(l)).join('');
  const rest = lines.filter((l) => !SHOW_INCLUDES.test(l)).join('');
  return { shown: Buffer.from(shown, 'latin1'), rest: Buffer.from(rest, 'latin1') };
}

/**
 * The text as the remote compile gets it (latin1: every byte kept) and the `/showIncludes` lines
 * to print, or why it must compile here.
 */
async function remoteText(
  plan: RemotePlan,
  io: CcIo,
  terminal: boolean,
): Promise<{ text: CppText; shown: Buffer; stderr: string }> {
  const pre = await preprocess(plan.preprocessArgv, io.cwd, io.env, io.front);
  const { shown, rest } = splitShown(pre.stderr, plan.showIncludes === true);
  // Only clang's warnings about its options: the remote compile must print exactly these.
  const stderr = rest.toString('utf8');
  const optionWarnings = plan.family === 'clang' && rest.length > 0 && onlyOptionWarnings(stderr);
  if (optionWarnings && terminal) throw new CompileHere(ON_A_TERMINAL);
  if (pre.code !== 0 || (rest.length > 0 && !optionWarnings))
    throw new CompileHere(
      rest.includes(GCC_COUNTER_ERROR) ? COUNTER_LOCAL : 'the preprocessor printed diagnostics',
    );
  if (pre.text.byteLength > TEXT_MAX)
    throw new FarmError('ERR_TOO_LARGE', `preprocessed source over ${TEXT_MAX >> 20} MiB`);
  let text = cppText(pre.text);
  if (plan.family === 'gcc') text = stripGccPreamble(text);
  if (HOST_MACROS.some((m) => holds(text, m)))
    throw new CompileHere('uses __DATE__, __TIME__ or __TIMESTAMP__', false);
  if (
    holds(text, '__COUNTER__') &&
    COUNTER_DIRECTIVE.test(text.bytes.toString('latin1').replace(/\\\r?\n/g, ' '))
  )
    throw new CompileHere(COUNTER_LOCAL);
  if (plan.family === 'gcc' && mentionsPushMacro(markerFiles(text), io.cwd))
    throw new CompileHere('#pragma push_macro (gcc -fdirectives-only loses it)');
  return { text, shown, stderr: optionWarnings ? stderr : '' };
}

/** clang's DWARF 5 line table carries MD5 sums of the files read; DWARF 2 to 4 has none. */
function clangDwarf4(argv: string[]): boolean {
  const v = argv.filter((a) => /^-gdwarf-\d$/.test(a)).pop();
  return v !== undefined && Number(v.slice(7)) < 5;
}

async function remote(plan: RemotePlan, argv: string[], s: CcSettings, api: Api, io: CcIo): Promise<number> {
  const cwd = compilerCwd(io.cwd, io.env);
  const preset = presetFor(argv[0]!, s);
  // DWARF 5 line tables sum the files read: the local cc1 command on the builder, over them.
  const vfs = plan.family === 'clang' && plan.debug && !clangDwarf4(plan.compileArgv);
  if (vfs && preset)
    throw new CompileHere('clang -g with DWARF 5 and a preset (its line table sums the local files)');
  // Direct mode: a compile seen before, with every file it read unchanged, needs no preprocessing.
  // (Not with a preset: the preset may now name another toolchain.)
  const manifests = manifestDir(io.env);
  // Two manifests: a portable one (paths below the layout root relative, shared by checkouts) for
  // results that name no directory, and this folder's own for those that do.
  const source = path.resolve(cwd, plan.sourceArg);
  const root0 = layoutRoot(cwd, source, [], null, undefined, plan.compileArgv);
  const mkeys = preset
    ? { portable: null, here: null }
    : manifestKeys(argv, cwd, io.env, plan.source, s.gateway!, root0);
  // Where the local compile would colour its diagnostics (ours are uncoloured unless asked for).
  const terminal = colourArgs(argv, io.env).length > 0 || (io.stderr as { isTTY?: boolean }).isTTY === true;
  const hit = (k: string, root: string | null): Promise<boolean> =>
    directHit(plan, manifests, k, root, api, s, io, terminal);
  if (mkeys.portable && (await hit(mkeys.portable, root0))) return 0;
  if (mkeys.here && (await hit(mkeys.here, null))) return 0;
  const startedMs = Date.now();
  // clang and clang-cl name their target (the local driver's) in the remote compile, so a
  // builder's clang makes this client's objects; gcc's target is its binary (the preset's).
  const [{ text, shown, stderr }, triple, published] = await Promise.all([
    remoteText(plan, io, terminal),
    plan.family === 'gcc' || namesTarget(argv) ? null : localTarget(argv, io.cwd, io.env),
    preset && plan.family !== 'gcc' ? presetTargets(api, preset, io.env) : null,
  ]);
  const compileArgv = withTarget(plan.compileArgv, triple);
  // A preset published for other targets (kiln toolchain push --target) would make other objects.
  const target = namedTarget(argv) ?? triple?.[0]?.slice('--target='.length) ?? null;
  if (target && published && published.length > 0 && !targetsInclude(published, target)) {
    if (s.verbose)
      io.stderr.write(`kiln cc: ${preset} is for ${published.join(', ')}, this compile for ${target}\n`);
    throw new CompileHere('the preset is for other targets');
  }
  const root = layoutRoot(cwd, source, markerPaths(text), s.baseDir, undefined, compileArgv);
  const argv0 = path.basename(plan.compileArgv[0]!);
  const clObject = plan.family === 'clang-cl' ? plan.output : undefined;
  const send = async (j: JobFiles) => {
    if (s.verbose) io.stderr.write(`kiln cc: farm job: ${j.argv.join(' ')} (in ${j.cwd})\n`);
    const { job, action } = await runJob(api, await jobSpec(j, preset, s, api, io), s);
    if (job.exitCode !== 0 || Buffer.from(job.result!.stderr, 'base64').toString('utf8') !== stderr)
      throw new CompileHere('the compile printed diagnostics');
    return { job, action, obj: objectOf(job, j.output), output: j.output };
  };
  const attempt = async (kind: LayoutKind) => {
    const layout = layOut(kind, root, cwd, source, plan.sourceArg, text, compileArgv, undefined, {
      clObject,
    });
    if (!layout) throw new CompileHere('the directory tree cannot be mirrored on the builder');
    const got = await send(layoutFiles(layout, argv0));
    if (namesRemoteRoot(got.obj, layout)) return null;
    return { ...got, portable: kind === 'fixed' };
  };
  const read = [plan.source, ...markerFiles(text).map((f) => path.resolve(cwd, f))];
  let got;
  if (vfs) {
    const cc1 = await cc1Command(argv, io.cwd, io.env);
    const probed = cc1 ? probedFiles(text.bytes.toString('latin1'), cc1, read, cwd) : null;
    const j = cc1 && probed ? vfsJob(cc1, [...read, ...probed], cwd) : null;
    if (!j) throw new CompileHere('clang -g with DWARF 5 (no cc1 command, or __has_include of a macro)');
    read.push(...probed!);
    got = { ...(await send(j)), portable: false };
    if (got.obj.includes('/job/')) throw new CompileHere('the object names the builder directory');
  } else {
    // With -g the object names the working directory, unless the user's maps take it out.
    const mapped = plan.debug && (plan.family === 'clang-cl' || !hasUserMaps(plan.compileArgv));
    // A fixed layout's object that names its directories is made again mapped: this checkout's own.
    got = (mapped ? null : await attempt('fixed')) ?? (await attempt('mapped'));
    if (!got) throw new CompileHere('the object names the builder directory');
  }
  const obj = got.obj;
  io.stdout.write(Buffer.concat([shown, Buffer.from(got.job.result!.stdout, 'base64')]));
  if (stderr) io.stderr.write(stderr);
  await place(plan.output, obj);
  recordEvent(got.job.state === 'cached' ? 'hit' : 'miss', undefined, { env: io.env });
  const portable = got.portable;
  const mkey = portable ? mkeys.portable : mkeys.here;
  if (mkey && got.action && got.job.result!.stdout === '') {
    const files = read;
    const depfile = plan.depfile ? await readFile(plan.depfile, 'utf8').catch(() => null) : null;
    const kept = resultOfJob(got.job);
    if ((!plan.depfile || depfile !== null) && kept)
      keepResult(resultsDir(manifests), api.base, got.action, kept, io.env);
    if (!plan.depfile || depfile !== null)
      recordManifest(
        manifests,
        mkey,
        [...new Set(files)],
        startedMs,
        {
          action: got.action,
          output: got.output,
          depfile,
          ...(shown.length > 0 ? { stdout: shown.toString('latin1') } : {}),
          ...(stderr ? { stderr } : {}),
        },
        portable ? root0 : null,
      );
  }
  return 0;
}

function objectOf(job: JobView, output: string): Buffer {
  const obj = job.result!.files.find((f) => f.path === output);
  if (!obj) throw new FarmError('ERR_UPSTREAM', 'the farm returned no object file');
  return Buffer.from(obj.data, 'base64');
}

/** Runs one compiler invocation; returns its exit code. */
export async function kilnCc(argv: string[], io: CcIo): Promise<number> {
  const s = ccSettings(io.cwd, io.env);
  const plan = analyzeCompile(argv, { cwd: io.cwd });
  if (s.verbose) io.stderr.write(`${describePlan(plan)}\n`);
  // The keep runs the compile with its output captured: the colour option a terminal would get.
  const runArgv = [argv[0]!, ...colourArgs(argv, io.env), ...argv.slice(1)];
  // Run by the front, the compiler has the front's stderr (the terminal itself): no colour option.
  const colour = io.front ? [] : colourArgs(argv, io.env);
  const local = (): Promise<number> =>
    runLocal([argv[0]!, ...colour, ...argv.slice(1)], {
      cwd: io.cwd,
      stdout: io.stdout,
      stderr: io.stderr,
      env: io.env,
      ...(io.front ? { front: io.front } : {}),
    });
  if (!plan.distributable) {
    recordEvent('local', plan.reason, { env: io.env });
    return local();
  }
  if (!s.gateway) {
    recordEvent('fallback', 'unreachable', { env: io.env });
    if (s.verbose) io.stderr.write('kiln cc: no gateway configured (KILN_GATEWAY); compiling locally\n');
    return local();
  }
  // A compile that ran here before (the same compiler, command line and files) is answered from the keep.
  const keep = keepFor(plan, runArgv, io);
  // The native front's colour option is in the keep's key; a terminal here would colour by itself.
  const tty = (io.stderr as { isTTY?: boolean }).isTTY === true;
  if (keep && (await keepHit(plan, keep, io, tty, s.verbose))) return 0;
  try {
    return await remote(plan, argv, s, { base: s.gateway, token: s.token }, io);
  } catch (err) {
    if (err instanceof CompileHere) {
      recordEvent('local', err.message, { env: io.env });
      if (s.verbose) io.stderr.write(`kiln cc: compiling locally: ${err.message}\n`);
      const kept = keep && err.keepable && canCapture(io) ? keep : null;
      const code = kept ? await runAndKeep(plan, kept, io) : await local();
      if (code !== 0) recordEvent('error', undefined, { env: io.env });
      return code;
    }
    if (isSignatureRefusal(err)) {
      // Not a farm failure to paper over with a local compile: someone changed a result.
      recordEvent('error', undefined, { env: io.env });
      io.stderr.write(`kiln cc: ${err.message}\n`);
      return 1;
    }
    if (!(err instanceof FarmError)) throw err;
    const why = fallbackReason(err);
    recordEvent('fallback', why, { env: io.env });
    if (s.verbose) io.stderr.write(`kiln cc: farm failed (${why}: ${err.message}); compiling locally\n`);
    return local();
  }
}
