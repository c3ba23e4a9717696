/**
 * The installable client: scripts/build-client.mjs --pack, `npm install -g` of the tarball into a
 * fresh prefix, then `kiln run`, `kiln cc` (gcc and clang-cl) and `kiln toolchain push|ls` from a
 * folder outside the repository against a local farm, with nothing of the repository on PATH and no
 * node_modules.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startDevFarm, type DevFarm } from '../../wiring/dev-farm.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true }))
    if (e.isFile()) out.push(join(e.parentPath, e.name));
  return out;
}

describe('the installed client', { timeout: 170_000 }, () => {
  let farm: DevFarm;
  let base: string;
  let prefix: string;
  let project: string;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    base = await mkdtemp(join(tmpdir(), 'kiln-installed-'));
    prefix = join(base, 'prefix');
    project = join(base, 'project');
    const built = execFileSync(process.execPath, [join(ROOT, 'scripts', 'build-client.mjs'), '--pack'], {
      encoding: 'utf8',
    });
    const tarball = built
      .trim()
      .split('\n')
      .pop()!
      .replace(/^build-client: /, '');
    execFileSync('mkdir', ['-p', project]);
    execFileSync(
      'npm',
      ['install', '-g', '--offline', '--no-audit', '--no-fund', '--prefix', prefix, tarball],
      {
        cwd: project,
        stdio: 'pipe',
      },
    );
    farm = await startDevFarm({ builders: 1, slots: 2, port: 0 });
    env = {
      PATH: `${join(prefix, 'bin')}:/usr/bin:/bin`,
      HOME: base,
      KILN_GATEWAY: farm.url,
      KILN_TOKEN: farm.token,
      KILN_STATS_FILE: join(base, 'stats.json'),
    };
  });
  after(async () => {
    await farm?.stop();
    if (base) await rm(base, { recursive: true, force: true });
  });

  /** Runs the installed `kiln` (asynchronously: the farm's gateway answers from this process). */
  const kiln = (args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      execFile(
        'kiln',
        args,
        { cwd: project, env, encoding: 'utf8', timeout: 60_000 },
        (err, stdout, stderr) =>
          resolve({ status: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr }),
      );
    });

  it('is built JavaScript only: no TypeScript, no native module, no node_modules', async () => {
    const installed = join(prefix, 'lib', 'node_modules', 'kiln');
    const files = await filesUnder(installed);
    assert.ok(files.some((f) => f.endsWith('kiln.mjs')));
    assert.deepEqual(
      files.filter((f) => /\.(ts|node)$/.test(f) || f.includes('node_modules', installed.length)),
      [],
    );
    const pkg = JSON.parse(await readFile(join(installed, 'package.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    assert.equal(pkg.dependencies, undefined);
    assert.equal(
      dirname(execFileSync('which', ['kiln'], { env, encoding: 'utf8' }).trim()),
      join(prefix, 'bin'),
    );
  });

  it('kiln run from a folder outside the repository', async () => {
    const r = await kiln(['run', '--', 'sh', '-c', 'echo built on the farm']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'built on the farm\n');
  });

  it('kiln cc compiles on the farm (a miss, then a hit) and writes the local gcc’s object', async () => {
    await writeFile(join(project, 'a.c'), 'int triple(int x) { return 3 * x; }\n');
    execFileSync('gcc', ['-c', 'a.c', '-o', 'want.o'], { cwd: project });
    for (const i of [1, 2]) {
      await rm(join(project, 'a.o'), { force: true });
      const r = await kiln(['cc', 'gcc', '-c', 'a.c', '-o', 'a.o']);
      assert.equal(r.status, 0, `compile ${i}: ${r.stderr}`);
      assert.deepEqual(await readFile(join(project, 'a.o')), await readFile(join(project, 'want.o')));
    }
    const stats = JSON.parse((await kiln(['stats', '--json'])).stdout) as {
      cacheMisses: number;
      cacheHits: number;
    };
    assert.deepEqual([stats.cacheMisses, stats.cacheHits], [1, 1]);
  });

  const noClangCl =
    spawnSync('clang-cl-14', ['--version']).status === 0
      ? false
      : 'clang-cl-14 is not installed (Debian: clang-tools-14)';
  it(
    'kiln cc clang-cl /c /showIncludes: the farm’s COFF object and the include lines on stdout',
    { skip: noClangCl },
    async () => {
      await writeFile(join(project, 'w.h'), '#define W 5\n');
      await writeFile(join(project, 'w.c'), '#include "w.h"\nint w(void) { return W; }\n');
      // The second time is a direct-mode hit (no preprocessing): the recorded lines are printed.
      for (const round of ['miss', 'hit']) {
        await rm(join(project, 'w.obj'), { force: true });
        const r = await kiln(['cc', 'clang-cl-14', '/c', '/showIncludes', '/Brepro', 'w.c', '/Fow.obj']);
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.stdout, 'Note: including file: ./w.h\n', round);
        assert.match(
          execFileSync('file', ['-b', join(project, 'w.obj')], { encoding: 'utf8' }),
          /^Intel amd64 COFF/,
        );
      }
      const stats = JSON.parse((await kiln(['stats', '--json'])).stdout) as {
        cacheMisses: number;
        cacheHits: number;
      };
      assert.deepEqual([stats.cacheMisses, stats.cacheHits], [2, 2], 'compiled on the farm, then a hit');
    },
  );

  it('kiln toolchain push and ls, and no server commands in the installed client', async () => {
    const empty = await kiln(['toolchain', 'ls']);
    assert.equal(empty.status, 0, empty.stderr);
    assert.equal(empty.stdout, 'no toolchain presets yet (publish one with kiln toolchain push)\n');
    // An archive built elsewhere (here: by tar), published with its target.
    await mkdir(join(base, 'tc', 'usr', 'bin'), { recursive: true });
    await writeFile(join(base, 'tc', 'usr', 'bin', 'cc'), '#!/bin/sh\necho cc\n', { mode: 0o755 });
    execFileSync('tar', ['czf', join(project, 'tc.tar.gz'), '-C', join(base, 'tc'), 'usr']);
    const push = await kiln([
      'toolchain',
      'push',
      'tc.tar.gz',
      '--name',
      'tiny',
      '--platform',
      'linux-x86_64',
      '--compiler',
      '/usr/bin/cc',
      '--target',
      'x86_64-linux-gnu',
    ]);
    assert.equal(push.status, 0, push.stderr);
    assert.match(push.stdout, /^tiny@linux-x86_64 → [0-9a-f]{64} \(\d+ bytes uploaded\)\n$/);
    const ls = await kiln(['toolchain', 'ls']);
    assert.match(
      ls.stdout,
      /^tiny@linux-x86_64 +[0-9a-f]{12} .* \/usr\/bin\/cc .* targets x86_64-linux-gnu\n$/,
    );
    const dev = await kiln(['dev']);
    assert.equal(dev.status, 2);
    assert.match(dev.stderr, /^kiln: Unknown argument: dev/);
  });
});
