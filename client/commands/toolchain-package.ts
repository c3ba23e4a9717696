/** `kiln toolchain package <compiler> [-o FILE] [--no-shell] [--gzip-level N] [--json]` (Linux) */
import { relative } from 'node:path';
import { say, type Io } from '../command.ts';
import { UserError } from '../errors.ts';
import { packageToolchain, type PackageProgress } from '../toolchain/package.ts';

interface PackageArgs {
  compiler: string;
  output?: string;
  shell: boolean;
  gzipLevel: number;
  json: boolean;
}

/** The kiln platform of this host (what a toolchain packaged here runs on). */
function hostPlatform(): string {
  const arch = process.arch === 'x64' ? 'x86_64' : process.arch === 'arm64' ? 'aarch64' : process.arch;
  return `${process.platform}-${arch}`;
}

function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

export async function handler(a: PackageArgs, io: Io): Promise<number> {
  if (process.platform !== 'linux') {
    throw new UserError(
      'toolchains are packaged on Linux; from Windows or macOS name a preset an admin published ' +
        '(kiln toolchain ls, and [toolchains] in kiln.toml: see docs/toolchains.md)',
    );
  }
  let last = '';
  const onProgress = (p: PackageProgress): void => {
    const line =
      p.phase === 'pack' && p.bytes
        ? `packing: ${mb(p.bytes)}`
        : p.files
          ? `${p.message}: ${p.files}`
          : p.message;
    if (line !== last && p.phase !== 'done') io.stderr.write(`kiln: ${line}\n`);
    last = line;
  };
  let r;
  try {
    r = await packageToolchain(String(a.compiler), {
      output: a.output,
      cwd: io.cwd,
      pathEnv: io.env.PATH,
      shell: a.shell,
      gzipLevel: a.gzipLevel,
      onProgress,
      signal: io.signal,
    });
  } catch (err) {
    if (io.signal.aborted) {
      io.stderr.write('kiln: stopped; nothing was written\n');
      return 130;
    }
    throw err;
  }
  if (a.json) {
    say(io.stdout, JSON.stringify(r));
    return 0;
  }
  const shown = relative(io.cwd, r.file).startsWith('..') ? r.file : `./${relative(io.cwd, r.file)}`;
  say(io.stdout, `digest    sha256:${r.digest}`);
  say(io.stdout, `size      ${mb(r.size)} (${mb(r.tarSize)} unpacked), ${r.files} files`);
  say(io.stdout, `compiler  ${r.compilerPath}  (${r.version}, target ${r.target})`);
  say(io.stdout, `wrote     ${shown}`);
  for (const s of r.skipped) io.stderr.write(`kiln: left out ${s}\n`);
  say(
    io.stdout,
    `publish it: kiln toolchain push ${shown} --name NAME --platform ${hostPlatform()} --compiler ${r.compilerPath}` +
      // gcc compiles for its one target; clang for any (add a --target for each one you publish it for)
      (r.kind === 'gcc' ? ` --target ${r.target}` : ' [--target TRIPLE]…'),
  );
  return 0;
}
