/**
 * Toolchains end to end: the host gcc (and Debian's aarch64 cross gcc) packaged, pushed as
 * presets, and used by jobs whose sandbox root is the toolchain — no host /usr inside.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDevFarm, type DevFarm } from '../../wiring/dev-farm.ts';
import { packTreeToBuffer } from '../../archive/pack.ts';
import { kiln } from '../helpers/cli.ts';

const HELLO = '#include <stdio.h>\nint main(void) { puts("built in a toolchain root"); return 0; }\n';
const hasCross = spawnSync('aarch64-linux-gnu-gcc', ['--version']).status === 0;

/** Resolves once `check` holds, re-checking every 50 ms (a state, not a time, is awaited). */
async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('toolchains end to end', { timeout: 600_000 }, () => {
  let farm: DevFarm;
  let work: string;
  let opts: { url: string; token: string; cwd: string };

  before(async () => {
    farm = await startDevFarm({ builders: 2, slots: 2, port: 0, leaseMs: 1000 });
    work = await mkdtemp(join(tmpdir(), 'kiln-tc-'));
    opts = { url: farm.url, token: farm.token, cwd: work };
    await mkdir(join(work, 'src'));
    await writeFile(join(work, 'src', 'hello.c'), HELLO);
  });
  after(async () => {
    await farm?.stop();
    await rm(work, { recursive: true, force: true });
  });

  async function packageAndPush(
    compiler: string,
    name: string,
  ): Promise<{ digest: string; compilerPath: string }> {
    const file = join(work, `${name}.tar.gz`);
    const p = await kiln(['toolchain', 'package', compiler, '-o', file, '--json'], opts);
    assert.equal(p.code, 0, p.stderr);
    const pkg = JSON.parse(p.stdout) as { digest: string; compilerPath: string };
    const push = (): Promise<{ code: number; stdout: string; stderr: string }> =>
      kiln(
        [
          'toolchain',
          'push',
          file,
          '--name',
          name,
          '--platform',
          'linux-x86_64',
          '--compiler',
          pkg.compilerPath,
          '--json',
        ],
        opts,
      );
    const first = await push();
    assert.equal(first.code, 0, first.stderr);
    assert.ok((JSON.parse(first.stdout) as { uploaded: number }).uploaded > 1_000_000);
    const again = await push();
    assert.equal(
      (JSON.parse(again.stdout) as { uploaded: number }).uploaded,
      0,
      'a second push uploads 0 bytes',
    );
    return pkg;
  }

  it('host gcc as a preset: compiles and links with no host /usr; the binary runs here', async () => {
    await packageAndPush('gcc', 'gcc-host');
    const script =
      'test ! -e /usr/bin/python3 && test ! -e /usr/bin/perl && gcc -O2 -o hello hello.c && echo linked';
    const r = await kiln(
      [
        'run',
        '--toolchain',
        'gcc-host@linux-x86_64',
        '--input',
        'src',
        '--output',
        'hello',
        '--',
        'sh',
        '-c',
        script,
      ],
      opts,
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'linked\n');
    assert.equal(
      execFileSync(join(work, 'src', 'hello'), { encoding: 'utf8' }),
      'built in a toolchain root\n',
    );
    const ls = await kiln(['toolchain', 'ls', '--json'], opts);
    assert.ok(
      (JSON.parse(ls.stdout) as { presets: { name: string }[] }).presets.some((p) => p.name === 'gcc-host'),
    );
  });

  it('kiln cc compiles with the preset kiln.toml maps the compiler to; the object equals a local one', async () => {
    const dir = join(work, 'cc');
    await mkdir(dir);
    await writeFile(
      join(dir, 'm.c'),
      '#include <string.h>\nsize_t m(const char *s) { return strlen(s) * 3; }\n',
    );
    await writeFile(join(dir, 'kiln.toml'), '[toolchains]\ngcc = "gcc-host@linux-x86_64"\n');
    const env = { KILN_STATS_FILE: join(dir, 'stats.json'), KILN_CC_VERBOSE: '1' };
    const r = await kiln(['cc', 'gcc', '-O2', '-c', 'm.c', '-o', 'm.o'], { ...opts, cwd: dir, env });
    assert.equal(r.code, 0, r.stderr);
    const stats = JSON.parse((await kiln(['stats', '--json'], { ...opts, cwd: dir, env })).stdout) as {
      cacheMisses: number;
      fallbacks: number;
    };
    assert.deepEqual([stats.cacheMisses, stats.fallbacks], [1, 0], r.stderr);
    execFileSync('gcc', ['-O2', '-c', 'm.c', '-o', 'local.o'], { cwd: dir });
    assert.deepEqual(await readFile(join(dir, 'm.o')), await readFile(join(dir, 'local.o')));
  });

  it('placement prefers the builder where the toolchain is warm', async () => {
    const ids: string[] = [];
    // Wait until a heartbeat advertises the toolchain as warm (earlier tests ran it on a builder).
    const preset = JSON.parse((await kiln(['toolchain', 'ls', '--json'], opts)).stdout) as {
      presets: { name: string; digest: string }[];
    };
    const digest = preset.presets.find((p) => p.name === 'gcc-host')?.digest;
    assert.ok(digest, 'the preset is listed');
    await until(async () => {
      const s = (await fetch(`${farm.url}/api/v1/status`, {
        headers: { Authorization: `Bearer ${farm.token}` },
      }).then((r) => r.json())) as { builders: { warm: string[] }[] };
      return s.builders.some((b) => b.warm.includes(digest));
    }, 'a builder advertising the toolchain warm');
    for (let i = 0; i < 3; i++) {
      const r = await kiln(['run', '--json', '--toolchain', 'gcc-host', '--', 'gcc', '--version'], opts);
      assert.equal(r.code, 0, r.stderr);
      ids.push((JSON.parse(r.stdout) as { builder: string }).builder);
    }
    assert.equal(new Set(ids).size, 1, `all on the warm builder: ${ids.join(', ')}`);
  });

  it(
    'cross gcc (aarch64) as an x86_64 preset: the object is aarch64',
    { skip: hasCross ? false : 'gcc-aarch64-linux-gnu is not installed' },
    async () => {
      await packageAndPush('aarch64-linux-gnu-gcc', 'gcc-aarch64');
      const r = await kiln(
        [
          'run',
          '--toolchain',
          'gcc-aarch64@linux-x86_64',
          '--input',
          'src',
          '--output',
          'hello.o',
          '--',
          'aarch64-linux-gnu-gcc',
          '-c',
          'hello.c',
          '-o',
          'hello.o',
        ],
        opts,
      );
      assert.equal(r.code, 0, r.stderr);
      assert.match(execFileSync('file', [join(work, 'src', 'hello.o')], { encoding: 'utf8' }), /ARM aarch64/);
    },
  );

  it('a toolchain corrupted in the store is refused by the builder with a clear job error', async () => {
    const tiny = join(work, 'tiny');
    await mkdir(join(tiny, 'bin'), { recursive: true });
    await writeFile(join(tiny, 'bin', 'note.txt'), 'tiny toolchain\n');
    const { bytes } = await packTreeToBuffer(tiny, undefined, { gzip: true });
    const file = join(work, 'tiny.tar.gz');
    await writeFile(file, bytes);
    const digest = createHash('sha256').update(bytes).digest('hex');
    const push = await kiln(
      [
        'toolchain',
        'push',
        file,
        '--name',
        'tiny',
        '--platform',
        'linux-x86_64',
        '--compiler',
        '/bin/note.txt',
      ],
      opts,
    );
    assert.equal(push.code, 0, push.stderr);
    const stored = join(farm.dataDir, 'store', 'toolchains', digest);
    const data = await readFile(stored);
    data.writeUInt8(data.readUInt8(data.length - 20) ^ 0xff, data.length - 20);
    await writeFile(stored, data);
    const r = await kiln(['run', '--json', '--toolchain', 'tiny', '--', 'true'], opts);
    assert.equal(r.code, 1);
    const job = JSON.parse(r.stdout) as { state: string; error: { code: string; message: string } };
    assert.equal(job.state, 'failed');
    assert.equal(job.error.code, 'ERR_DIGEST_MISMATCH');
    assert.match(job.error.message, /corrupt/);
  });
});
