/**
 * `kiln toolchain package`: turns a local gcc or clang (Linux) into a toolchain archive laid out
 * as a root file system, the sandbox's whole root on a builder: see {@link packageToolchain}.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { copyFile, link, mkdir, mkdtemp, rename, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, posix, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { packTree } from '../../archive/pack.ts';
import { DEFAULT_ARCHIVE_LIMITS } from '../../archive/limits.ts';
import { KilnError } from '../../protocol/errors.ts';
import { RootCollector } from './package-collect.ts';
import { writeLoaderCache } from './package-elf.ts';
import { locateCompiler, probeCompiler } from './package-probe.ts';

export interface PackageProgress {
  phase: 'probe' | 'collect' | 'stage' | 'pack' | 'done';
  message: string;
  /** Files collected or staged so far. */
  files?: number;
  /** Uncompressed tar bytes written so far (phase `pack`). */
  bytes?: number;
}

export interface PackageToolchainOptions {
  /** The archive to write. @default `<outDir>/<name>-<first 12 digits of the digest>.tar.gz` */
  output?: string;
  /** Directory of the archive when `output` is not given. @default `cwd` */
  outDir?: string;
  /** Working directory for a relative compiler path. @default process.cwd() */
  cwd?: string;
  /** Where a compiler given by name is looked up. @default process.env.PATH */
  pathEnv?: string;
  /** Include /bin/sh and its libraries, so that jobs can run `sh -c`. @default true */
  shell?: boolean;
  /** gzip level, 1 (fastest) to 9. @default 6 */
  gzipLevel?: number;
  /** Where the staging tree (hard links to the host's files) is made. @default os.tmpdir() */
  tmpDir?: string;
  /** Called as the work goes on. @default none */
  onProgress?(p: PackageProgress): void;
  /** Aborting stops the work and removes what it wrote (rejects with the signal's reason). @default none */
  signal?: AbortSignal;
}

export interface PackagedToolchain {
  /** Path of the archive written. */
  file: string;
  /** SHA-256 of the archive's bytes (hex): its id. */
  digest: string;
  /** Bytes of the archive (gzip). */
  size: number;
  /** Bytes of the tar inside. */
  tarSize: number;
  /** Regular files in the archive. */
  files: number;
  /** Entries in the archive (files, directories, links). */
  entries: number;
  /** Where the compiler is inside the archive (and so inside the sandbox): `/usr/bin/gcc`. */
  compilerPath: string;
  kind: 'gcc' | 'clang';
  /** The compiler's first `--version` line. */
  version: string;
  /** The compiler's target triple. */
  target: string;
  /** Optional things left out (a dangling link among the headers, a library a script names but nobody has). */
  skipped: string[];
}

/** Files staged between two progress reports. */
const REPORT_EVERY = 2000;
/** Files linked (or copied) into the staging tree at once. */
const STAGE_CONCURRENCY = 16;

/**
 * Packages `compiler` (a path, or a name looked up in PATH) into a gzip-compressed tar laid out
 * as a root file system: every file at its host path (`usr/lib/gcc/x86_64-linux-gnu/12/cc1`),
 * every symbolic link on the way kept as a relative link (`usr/bin/gcc -> gcc-12`,
 * `lib64 -> usr/lib64`). It holds the driver, its helper programs, its own directories, every
 * shared library each program needs (ldd, recursively, with the ELF interpreter), the include
 * directories it searches, the startup files and libraries it links with (following GNU ld
 * scripts), the target's directory of a Debian cross compiler (`/usr/<triple>`), `/bin/sh`, and
 * the loader's configuration with an `ld.so.cache` made for the archive's own libraries.
 *
 * The archive is deterministic (same host files → same bytes: sorted entries, fixed times and
 * owners, see archive/pack.ts) and named by its SHA-256. It is written to a temporary file next
 * to its destination and renamed at the end; on any failure nothing is left behind.
 *
 * @throws KilnError ERR_NOT_FOUND (no such compiler, a required file missing), ERR_VALIDATION
 * (not gcc or clang, not executable, a broken link, an odd layout, too many files).
 */
export async function packageToolchain(
  compiler: string,
  opts: PackageToolchainOptions = {},
): Promise<PackagedToolchain> {
  if (process.platform !== 'linux') {
    throw new KilnError('ERR_VALIDATION', 'toolchains are packaged on Linux (see docs/toolchains.md)');
  }
  const signal = opts.signal;
  const progress = (p: PackageProgress): void => {
    signal?.throwIfAborted();
    opts.onProgress?.(p);
  };
  const level = opts.gzipLevel ?? 6;
  if (!Number.isInteger(level) || level < 1 || level > 9) {
    throw new KilnError('ERR_VALIDATION', `gzip level must be 1 to 9, not ${level}`);
  }
  const cwd = opts.cwd ?? process.cwd();
  const located = await locateCompiler(compiler, cwd, opts.pathEnv ?? process.env.PATH ?? '/usr/bin:/bin');
  progress({ phase: 'probe', message: `asking ${located.path} what it needs` });
  const probe = await probeCompiler(located.path, located.elf);

  let count = 0;
  const col = new RootCollector({
    hostElf: probe.elf,
    findLibrary: probe.findLibrary,
    onFile: () => {
      if (++count % REPORT_EVERY === 0)
        progress({ phase: 'collect', message: 'collecting files', files: count });
    },
  });
  progress({ phase: 'collect', message: `collecting the files of ${probe.version || probe.path}` });
  for (const p of probe.required) await col.add(p, { required: true });
  for (const t of probe.trees) await col.add(t.path, { required: t.required, tree: true });
  for (const p of probe.optional) await col.add(p, { required: false });
  if (opts.shell ?? true) await col.add('/bin/sh', { required: true });
  // The loader's configuration; its cache is made for the archive's own libraries (writeLoaderCache).
  await col.add('/etc/ld.so.conf', { required: false });
  await col.add('/etc/ld.so.conf.d', { required: false, tree: true });
  checkLimits(col.files.size + col.links.size + col.dirs.size, [...col.files.values()]);

  const name = posix.basename(probe.path).replace(/[^A-Za-z0-9._+-]/g, '_');
  const destDir = opts.output ? dirname(resolve(cwd, opts.output)) : resolve(cwd, opts.outDir ?? '.');
  const tmpFile = join(destDir, `.${name}.kiln-partial-${randomBytes(6).toString('hex')}`);
  const stage = await mkdtemp(join(opts.tmpDir ?? tmpdir(), 'kiln-toolchain-'));
  try {
    await stageTree(col, stage, progress);
    const noCache = await writeLoaderCache(stage);
    if (noCache !== undefined) col.skipped.push(noCache);
    progress({ phase: 'pack', message: `packing ${col.files.size} files`, bytes: 0 });
    const packed = await packTree(stage);
    try {
      signal?.throwIfAborted();
      checkLimits(packed.entries, []);
      if (packed.skipped.length > 0) {
        throw new KilnError(
          'ERR_INTERNAL',
          `staging made links out of the tree: ${packed.skipped.join(', ')}`,
        );
      }
    } catch (err) {
      packed.stream.destroy();
      throw err;
    }
    await mkdir(destDir, { recursive: true });
    const written = await writeGzip(packed.stream, tmpFile, level, progress, signal);
    const file = opts.output
      ? resolve(cwd, opts.output)
      : join(destDir, `${name}-${written.digest.slice(0, 12)}.tar.gz`);
    await rename(tmpFile, file);
    const result: PackagedToolchain = {
      file,
      ...written,
      files: col.files.size,
      entries: packed.entries,
      compilerPath: probe.path,
      kind: probe.kind,
      version: probe.version,
      target: probe.target,
      skipped: col.skipped,
    };
    opts.onProgress?.({
      phase: 'done',
      message: `wrote ${file}`,
      files: result.files,
      bytes: result.tarSize,
    });
    return result;
  } catch (err) {
    await rm(tmpFile, { force: true });
    throw err;
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
}

/**
 * Refuses a toolchain a builder would not unpack (archive/limits.ts).
 * @throws KilnError ERR_VALIDATION
 */
function checkLimits(entries: number, sizes: number[]): void {
  const lim = DEFAULT_ARCHIVE_LIMITS;
  const total = sizes.reduce((a, b) => a + b, 0);
  const biggest = Math.max(0, ...sizes);
  const problem =
    entries > lim.maxEntries
      ? `${entries} entries, more than the ${lim.maxEntries}`
      : total > lim.maxBytes
        ? `${total} bytes, more than the ${lim.maxBytes}`
        : biggest > lim.maxEntryBytes
          ? `a file of ${biggest} bytes, more than the ${lim.maxEntryBytes}`
          : undefined;
  if (problem) throw new KilnError('ERR_VALIDATION', `the toolchain would have ${problem} a builder unpacks`);
}

/** Builds the root under `stage`: hard links to the host's files (copies across file systems) and the links. */
async function stageTree(
  col: RootCollector,
  stage: string,
  progress: (p: PackageProgress) => void,
): Promise<void> {
  const files = [...col.files.keys()].sort();
  const links = [...col.links].sort((a, b) => (a[0] < b[0] ? -1 : 1));
  const dirs = new Set([...col.dirs, ...files.map((f) => dirname(f)), ...links.map(([l]) => dirname(l))]);
  for (const d of [...dirs].sort()) await mkdir(join(stage, d), { recursive: true });
  let n = 0;
  await inParallel(files, STAGE_CONCURRENCY, async (host) => {
    const to = join(stage, host);
    await link(host, to).catch(async (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EXDEV' && err.code !== 'EPERM' && err.code !== 'EMLINK') throw err;
      await copyFile(host, to);
    });
    if (++n % REPORT_EVERY === 0) progress({ phase: 'stage', message: 'staging files', files: n });
  });
  for (const [host, target] of links) await symlink(target, join(stage, host));
}

/** Runs `fn` on every item, at most `limit` at a time; the first failure rejects (after the rest settle). */
async function inParallel<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed: unknown;
  const worker = async (): Promise<void> => {
    while (next < items.length && failed === undefined) {
      const item = items[next++] as T;
      await fn(item).catch((err: unknown) => (failed ??= err));
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failed !== undefined) throw failed;
}

/** Gzips `tar` into `file`, hashing what is written. */
async function writeGzip(
  tar: Readable,
  file: string,
  level: number,
  progress: (p: PackageProgress) => void,
  signal: AbortSignal | undefined,
): Promise<{ digest: string; size: number; tarSize: number }> {
  let tarSize = 0;
  let size = 0;
  let reported = 0;
  const hash = createHash('sha256');
  await pipeline(
    tar,
    async function* (src: AsyncIterable<Buffer>) {
      for await (const chunk of src) {
        tarSize += chunk.length;
        if (tarSize - reported >= 64 << 20) {
          reported = tarSize;
          progress({ phase: 'pack', message: 'packing', bytes: tarSize });
        }
        yield chunk;
      }
    },
    createGzip({ level }),
    async function* (src: AsyncIterable<Buffer>) {
      for await (const chunk of src) {
        size += chunk.length;
        hash.update(chunk);
        yield chunk;
      }
    },
    createWriteStream(file, { flags: 'wx', mode: 0o644 }),
    signal ? { signal } : {},
  );
  return { digest: hash.digest('hex'), size, tarSize };
}
