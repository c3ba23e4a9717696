/**
 * `kiln toolchain package`: turns a local gcc or clang (Linux) into a toolchain archive laid out
 * as a root file system, the sandbox's whole root on a builder: see {@link packageToolchain}.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { copyFile, link, mkdir, mkdtemp, rename, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, posix, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { packTree } from '../../archive/pack.ts';
import { DEFAULT_ARCHIVE_LIMITS } from '../../archive/limits.ts';
import { KilnError } from '../../protocol/errors.ts';
import { RootCollector } from './package-collect.ts';
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

/**
 * Packages `compiler` (a path, or a name looked up in PATH) into a gzip-compressed tar laid out
 * as a root file system: every file at its host path (`usr/lib/gcc/x86_64-linux-gnu/12/cc1`),
 * every symbolic link on the way kept as a relative link (`usr/bin/gcc -> gcc-12`,
 * `lib64 -> usr/lib64`). It holds the driver, its helper programs, its own directories, every
 * shared library each program needs (ldd, recursively, with the ELF interpreter), the include
 * directories it searches, the startup files and libraries it links with (following GNU ld
 * scripts), the target's directory of a Debian cross compiler (`/usr/<triple>`), and `/bin/sh`.
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
  const progress = opts.onProgress ?? (() => undefined);
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
      if (++count % REPORT_EVERY === 0) progress({ phase: 'collect', message: 'collecting files', files: count });
    },
  });
  progress({ phase: 'collect', message: `collecting the files of ${probe.version || probe.path}` });
  for (const p of probe.required) await col.add(p, { required: true });
  for (const t of probe.trees) await col.add(t.path, { required: t.required, tree: true });
  for (const p of probe.optional) await col.add(p, { required: false });
  if (opts.shell ?? true) await col.add('/bin/sh', { required: true });
  await col.add('/etc/ld.so.cache', { required: false });
  const entries = col.files.size + col.links.size;
  if (entries > DEFAULT_ARCHIVE_LIMITS.maxEntries) {
    throw new KilnError(
      'ERR_VALIDATION',
      `the toolchain would have ${entries} files, more than the ${DEFAULT_ARCHIVE_LIMITS.maxEntries} a builder unpacks`,
    );
  }

  const name = posix.basename(probe.path).replace(/[^A-Za-z0-9._+-]/g, '_');
  const destDir = opts.output ? dirname(resolve(cwd, opts.output)) : resolve(cwd, opts.outDir ?? '.');
  const tmpFile = join(destDir, `.${name}.kiln-partial-${randomBytes(6).toString('hex')}`);
  const stage = await mkdtemp(join(opts.tmpDir ?? tmpdir(), 'kiln-toolchain-'));
  try {
    await stageTree(col, stage, progress);
    const packed = await packTree(stage);
    if (packed.skipped.length > 0) {
      packed.stream.destroy();
      throw new KilnError('ERR_INTERNAL', `staging produced links out of the tree: ${packed.skipped.join(', ')}`);
    }
    await mkdir(destDir, { recursive: true });
    const written = await writeGzip(packed.stream, tmpFile, level, progress);
    const file = opts.output ? resolve(cwd, opts.output) : join(destDir, `${name}-${written.digest.slice(0, 12)}.tar.gz`);
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
    progress({ phase: 'done', message: `wrote ${file}`, files: result.files, bytes: result.tarSize });
    return result;
  } catch (err) {
    await rm(tmpFile, { force: true });
    throw err;
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
}

/** Builds the root under `stage`: hard links to the host's files (copies across file systems) and the links. */
async function stageTree(col: RootCollector, stage: string, progress: (p: PackageProgress) => void): Promise<void> {
  const made = new Set<string>();
  const dir = async (d: string): Promise<void> => {
    if (made.has(d)) return;
    await mkdir(d, { recursive: true });
    made.add(d);
  };
  let n = 0;
  for (const host of [...col.files.keys()].sort()) {
    const to = join(stage, host);
    await dir(dirname(to));
    await link(host, to).catch(async (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EXDEV' && err.code !== 'EPERM' && err.code !== 'EMLINK') throw err;
      await copyFile(host, to);
    });
    if (++n % REPORT_EVERY === 0) progress({ phase: 'stage', message: 'staging files', files: n });
  }
  for (const [host, target] of [...col.links].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    const to = join(stage, host);
    await dir(dirname(to));
    await symlink(target, to);
  }
  for (const d of col.dirs) await dir(join(stage, d));
}

/** Gzips `tar` into `file`, hashing what is written. */
async function writeGzip(
  tar: NodeJS.ReadableStream,
  file: string,
  level: number,
  progress: (p: PackageProgress) => void,
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
  );
  return { digest: hash.digest('hex'), size, tarSize };
}
