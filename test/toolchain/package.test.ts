/**
 * `kiln toolchain package`: the host's gcc (and Debian's aarch64 cross gcc) packaged for real,
 * unpacked with the builder's own extractor, and used as the WHOLE root of a bubblewrap sandbox
 * (no host /usr): it compiles and links, and the program runs on the host. Packaging is slow
 * (~300 MB of files), so the archives are made once, concurrently, in `before`, at gzip level 1.
 * Needs Linux, root (the sandbox runner), bwrap and gcc.
 *
 * @timeout 420000 (slow under load: full toolchains / Ansible runs; 180 s timed out at load 10)
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomInt } from 'node:crypto';
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import {
  chmod,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readlink,
  rm,
  rmdir,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { extractTar } from '../../archive/extract.ts';
import type { SandboxResult, SandboxRunner } from '../../builders/core/sandbox.ts';
import { createBwrapRunner } from '../../builders/linux/bwrap-runner.ts';
import { packageToolchain, type PackagedToolchain } from '../../client/toolchain/package.ts';
import { parseLdd, parseLinkerScript } from '../../client/toolchain/package-elf.ts';
import { parseIncludeDirs } from '../../client/toolchain/package-probe.ts';
import { KilnError } from '../../protocol/errors.ts';
import { limitsSchema } from '../../protocol/job.ts';
import { kiln } from '../helpers/cli.ts';

const CROSS = '/usr/bin/aarch64-linux-gnu-gcc';
const hasGcc = (() => {
  try {
    execFileSync('gcc', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
const skip =
  process.platform !== 'linux'
    ? 'toolchains are packaged on Linux'
    : process.getuid?.() !== 0
      ? 'needs root (the sandbox runner)'
      : !existsSync('/usr/bin/bwrap')
        ? 'needs bubblewrap'
        : !hasGcc
          ? 'needs gcc'
          : false;
const crossSkip = existsSync(CROSS)
  ? false
  : `${CROSS} is missing: the Debian package gcc-aarch64-linux-gnu is not installed`;
if (!skip && crossSkip) console.log(`# skipping the cross-compiler test: ${crossSkip}`);

const SLOW = { timeout: 300_000 };
const T = { timeout: 120_000 };
const CGROUP_PARENT = `kiln-toolchain-test-${process.pid}`;
const HELLO = '#include <stdio.h>\nint main(void) { puts("hello from a kiln toolchain"); return 0; }\n';
const LIMITS = limitsSchema.parse({ timeoutSec: 120, graceSec: 1 });

/** Files every Debian builder host has, that a toolchain root must NOT show. */
const HOST_ONLY = ['/usr/bin/python3', '/usr/bin/bwrap', '/usr/bin/file', '/usr/bin/perl'].filter((f) =>
  existsSync(f),
);

async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Every symbolic link under `root` resolves (inside it: they are all relative). */
async function danglingLinks(root: string, dir = root, out: string[] = []): Promise<string[]> {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) await danglingLinks(root, p, out);
    else if (
      e.isSymbolicLink() &&
      !(await stat(p).then(
        () => true,
        () => false,
      ))
    )
      out.push(p);
  }
  return out;
}

describe('toolchain package', { skip }, () => {
  let base: string;
  let runner: SandboxRunner;
  let gcc: PackagedToolchain;
  let gccAgain: { code: number; stdout: string; stderr: string };
  let cross: PackagedToolchain | undefined;
  const t0 = Date.now();

  /** Runs argv in a fresh job directory holding hello.c, with `root` as the sandbox's root. */
  async function job(
    root: string,
    argv: string[],
  ): Promise<{ r: SandboxResult; out: string; jobDir: string }> {
    const jobDir = await mkdtemp(join(base, 'job-'));
    await writeFile(join(jobDir, 'hello.c'), HELLO);
    let out = '';
    const r = await runner.run({
      jobId: `tc-${process.pid}-${randomInt(1e9)}`,
      jobDir,
      argv,
      env: { PATH: '/usr/bin:/bin', HOME: '/tmp', LANG: 'C.UTF-8' },
      cwd: '.',
      limits: LIMITS,
      profile: 'default',
      rootDir: root,
      signal: new AbortController().signal,
      onOutput: (_s, chunk) => {
        out += Buffer.from(chunk).toString('utf8');
      },
    });
    return { r, out, jobDir };
  }

  before(async () => {
    base = await mkdtemp(join(tmpdir(), 'kiln-toolchain-test-'));
    await chmod(base, 0o711); // the sandbox uid must reach the unpacked roots and job directories
    for (const d of ['a', 'b', 'cross', 'stage']) await mkdir(join(base, d));
    runner = createBwrapRunner({ cgroupParent: CGROUP_PARENT, log: () => undefined });
    const tmpDir = join(base, 'stage');
    [gcc, gccAgain, cross] = await Promise.all([
      packageToolchain('gcc', { outDir: join(base, 'a'), gzipLevel: 1, tmpDir }),
      kiln(['toolchain', 'package', 'gcc', '-o', 'gcc-again.tar.gz', '--json', '--gzip-level', '1'], {
        cwd: join(base, 'b'),
      }),
      crossSkip ? undefined : packageToolchain(CROSS, { outDir: join(base, 'cross'), gzipLevel: 1, tmpDir }),
    ]);
    const secs = ((Date.now() - t0) / 1000).toFixed(1);
    for (const t of [gcc, cross]) {
      if (!t) continue;
      console.log(
        `# ${t.compilerPath}: ${(t.size / 1e6).toFixed(1)} MB gzip -1, ${(t.tarSize / 1e6).toFixed(1)} MB tar, ` +
          `${t.files} files, ${t.entries} entries`,
      );
    }
    console.log(`# packaged ${cross ? 3 : 2} archives concurrently in ${secs} s`);
  }, SLOW);

  after(async () => {
    if (base) await rm(base, { recursive: true, force: true });
    for (const c of ['', ...(await readdir('/sys/fs/cgroup').catch(() => [] as string[]))]) {
      await rmdir(join('/sys/fs/cgroup', c, CGROUP_PARENT)).catch(() => undefined);
    }
  });

  it(
    'packages the host gcc as a root: a job without the host /usr compiles and links, and the program runs on the host',
    T,
    async () => {
      const root = join(base, 'root-gcc');
      const ex = await extractTar(createReadStream(gcc.file), root);
      assert.equal(ex.entries, gcc.entries);
      assert.equal(gcc.kind, 'gcc');
      assert.match(gcc.compilerPath, /^\/.*gcc/);
      assert.ok(
        (await lstat(join(root, gcc.compilerPath))).isFile() ||
          (await lstat(join(root, gcc.compilerPath))).isSymbolicLink(),
      );
      // Laid out at host paths, links kept as (relative) links, none dangling.
      const cc1 = execFileSync('gcc', ['-print-prog-name=cc1']).toString().trim();
      assert.ok((await stat(join(root, cc1))).isFile(), `${cc1} is in the root`);
      for (const top of ['bin', 'lib', 'lib64']) {
        const host = await lstat(`/${top}`).catch(() => undefined);
        if (host?.isSymbolicLink()) assert.equal(await readlink(join(root, top)), await readlink(`/${top}`));
      }
      assert.deepEqual(await danglingLinks(root), []);
      if (existsSync('/etc/ld.so.conf')) {
        // The loader cache lists the archive's libraries, found at their place in the root.
        const cached = execFileSync('/usr/sbin/ldconfig', [
          '-p',
          '-C',
          join(root, 'etc/ld.so.cache'),
        ]).toString();
        assert.match(cached, /libc\.so\.6 .*=> \/\S+/);
        for (const m of cached.matchAll(/=> (\/\S+)/g)) assert.ok(existsSync(join(root, m[1] ?? '')), m[1]);
      }

      const built = await job(root, [gcc.compilerPath, '-O2', '-o', 'hello', 'hello.c']);
      assert.deepEqual([built.r.outcome, built.r.exitCode], ['exited', 0], built.out);
      assert.equal(execFileSync(join(built.jobDir, 'hello')).toString(), 'hello from a kiln toolchain\n');

      // The root is the toolchain alone: the compiler is there, the host's other programs are not,
      // and it is read-only. Each check exits with its own code, so a failure says which.
      assert.ok(HOST_ONLY.length > 0);
      const script = [
        `test -x ${gcc.compilerPath} || exit 3`,
        ...HOST_ONLY.map((f) => `test ! -e ${f} || exit 4`),
        'if (: > /usr/kiln-write-probe) 2>/dev/null; then exit 5; fi',
      ].join('\n');
      const probe = await job(root, ['/bin/sh', '-c', script]);
      assert.deepEqual([probe.r.outcome, probe.r.exitCode], ['exited', 0], probe.out);
    },
  );

  it('is deterministic: packaging again (through the command) gives the same bytes', T, async () => {
    assert.equal(gccAgain.code, 0, gccAgain.stderr);
    const again = JSON.parse(gccAgain.stdout) as PackagedToolchain;
    assert.equal(again.file, join(base, 'b', 'gcc-again.tar.gz'));
    assert.equal(again.digest, gcc.digest);
    assert.equal(again.size, gcc.size);
    assert.equal(again.files, gcc.files);
    assert.equal(again.compilerPath, gcc.compilerPath);
    assert.equal(await sha256File(again.file), gcc.digest);
    assert.equal(gcc.file, join(base, 'a', `gcc-${gcc.digest.slice(0, 12)}.tar.gz`));
    // Nothing but the archives was left behind.
    assert.deepEqual(await readdir(join(base, 'a')), [`gcc-${gcc.digest.slice(0, 12)}.tar.gz`]);
    assert.deepEqual(await readdir(join(base, 'b')), ['gcc-again.tar.gz']);
    assert.deepEqual(await readdir(join(base, 'stage')), []);
  });

  it(
    'packages the aarch64 cross gcc: a job rooted at it compiles and links for ARM',
    { ...T, skip: crossSkip },
    async () => {
      assert.ok(cross);
      assert.equal(cross.target, 'aarch64-linux-gnu');
      const root = join(base, 'root-cross');
      await extractTar(createReadStream(cross.file), root);
      assert.deepEqual(await danglingLinks(root), []);
      const c = await job(root, [cross.compilerPath, '-c', 'hello.c', '-o', 'hello.o']);
      assert.deepEqual([c.r.outcome, c.r.exitCode], ['exited', 0], c.out);
      assert.match(execFileSync('file', ['-b', join(c.jobDir, 'hello.o')]).toString(), /ARM aarch64/);
      const linked = await job(root, [cross.compilerPath, '-o', 'hello', 'hello.c']);
      assert.deepEqual([linked.r.outcome, linked.r.exitCode], ['exited', 0], linked.out);
      assert.match(
        execFileSync('file', ['-b', join(linked.jobDir, 'hello')]).toString(),
        /ELF 64-bit.*ARM aarch64.*dynamically linked/,
      );
    },
  );

  describe('refuses what it cannot package, leaving nothing behind', () => {
    let out: string;
    let stage: string;
    before(async () => {
      out = await mkdtemp(join(base, 'out-'));
      stage = await mkdtemp(join(base, 'stage-'));
    });
    const refuses = async (compiler: string, code: KilnError['code'], message: RegExp): Promise<void> => {
      await assert.rejects(
        packageToolchain(compiler, { outDir: out, tmpDir: stage, cwd: base }),
        (err: unknown) => {
          assert.ok(err instanceof KilnError, String(err));
          assert.equal(err.code, code);
          assert.match(err.message, message);
          return true;
        },
      );
      assert.deepEqual(await readdir(out), []);
      assert.deepEqual(await readdir(stage), []);
    };

    it('a missing compiler', async () => {
      await refuses('/nonexistent/bin/gcc', 'ERR_NOT_FOUND', /does not exist/);
      await refuses('kiln-no-such-compiler', 'ERR_NOT_FOUND', /not found in PATH/);
    });

    it('a program that is not a compiler', async () => {
      await refuses('/bin/true', 'ERR_VALIDATION', /not a gcc or clang compiler/);
    });

    it('a broken symbolic link, a file that is not executable, a wrapper script, a ccache link', async () => {
      const dir = await mkdtemp(join(base, 'bad-'));
      await symlink('gcc-99', join(dir, 'gcc'));
      await refuses(join(dir, 'gcc'), 'ERR_VALIDATION', /broken symbolic link/);
      await writeFile(join(dir, 'cc'), readFileSync('/bin/true'), { mode: 0o644 });
      await refuses(join(dir, 'cc'), 'ERR_VALIDATION', /not executable/);
      await writeFile(join(dir, 'cc.sh'), '#!/bin/sh\nexec gcc "$@"\n', { mode: 0o755 });
      await refuses(join(dir, 'cc.sh'), 'ERR_VALIDATION', /not an ELF program/);
      await writeFile(join(dir, 'ccache'), readFileSync('/bin/true'), { mode: 0o755 });
      await symlink('ccache', join(dir, 'cc-masquerade'));
      await refuses(join(dir, 'cc-masquerade'), 'ERR_VALIDATION', /ccache, a compiler wrapper/);
    });

    it(
      'stopped half-way through writing: the partial archive and the staging tree are removed',
      T,
      async () => {
        const ctl = new AbortController();
        let packed = 0;
        const run = packageToolchain('gcc', {
          outDir: out,
          tmpDir: stage,
          gzipLevel: 1,
          signal: ctl.signal,
          onProgress: (p) => {
            if (p.phase === 'pack' && (p.bytes ?? 0) > 0) {
              packed = p.bytes ?? 0;
              ctl.abort();
            }
          },
        });
        await assert.rejects(run, { name: 'AbortError' });
        assert.ok(packed > 0, 'it was stopped while writing');
        assert.deepEqual(await readdir(out), []);
        assert.deepEqual(await readdir(stage), []);
      },
    );
  });
});

describe('toolchain package parsers', () => {
  it('reads ldd output: libraries and the interpreter; a missing library is an error', () => {
    const out = [
      '\tlinux-vdso.so.1 (0x00007ffd6b9f2000)',
      '\tlibz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x00007f0e0a0a0000)',
      '\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f0e09e00000)',
      '\t/lib64/ld-linux-x86-64.so.2 (0x00007f0e0a0c6000)',
    ].join('\n');
    assert.deepEqual(parseLdd('/usr/bin/x', out), [
      '/lib/x86_64-linux-gnu/libz.so.1',
      '/lib/x86_64-linux-gnu/libc.so.6',
      '/lib64/ld-linux-x86-64.so.2',
    ]);
    assert.throws(() => parseLdd('/usr/bin/x', '\tlibfoo.so.3 => not found\n'), /needs libfoo\.so\.3/);
  });

  it("reads GNU ld scripts (glibc's libc.so) and tells other files apart", () => {
    const libc = [
      '/* GNU ld script',
      '   Use the shared library, but some functions are only in',
      '   the static library, so try that secondarily.  */',
      'OUTPUT_FORMAT(elf64-x86-64)',
      'GROUP ( /lib/x86_64-linux-gnu/libc.so.6 /usr/lib/x86_64-linux-gnu/libc_nonshared.a  AS_NEEDED ( /lib64/ld-linux-x86-64.so.2 ) )',
    ].join('\n');
    assert.deepEqual(parseLinkerScript(libc), [
      '/lib/x86_64-linux-gnu/libc.so.6',
      '/usr/lib/x86_64-linux-gnu/libc_nonshared.a',
      '/lib64/ld-linux-x86-64.so.2',
    ]);
    assert.deepEqual(parseLinkerScript('/* GNU ld script */\nGROUP ( libgcc_s.so.1 -lgcc )\n'), [
      'libgcc_s.so.1',
      '-lgcc',
    ]);
    assert.equal(parseLinkerScript('just some text'), undefined);
  });

  it('reads the include directories from -E -v', () => {
    const stderr = [
      'ignoring nonexistent directory "/usr/local/include/x86_64-linux-gnu"',
      '#include "..." search starts here:',
      ' /src/quoted',
      '#include <...> search starts here:',
      ' /usr/lib/gcc/x86_64-linux-gnu/12/include',
      ' /usr/include',
      ' /Library/Frameworks (framework directory)',
      'End of search list.',
      ' /not/a/dir',
    ].join('\n');
    assert.deepEqual(parseIncludeDirs(stderr), [
      '/src/quoted',
      '/usr/lib/gcc/x86_64-linux-gnu/12/include',
      '/usr/include',
      '/Library/Frameworks',
    ]);
  });
});
