/**
 * The cache across checkouts: the same project built in a second folder (another path length)
 * is all cache hits, and every object equals a local build in that second folder. With make
 * (relative paths) and with CMake through the launcher and the native front (absolute paths),
 * with Ninja and with make; with -g when the user's prefix map takes the folder out of the
 * object (also from a subdirectory, the map naming the folder above it), and exact (per checkout)
 * when it does not. (The two generators build different build
 * types: the same compile from either generator is one cache entry.) For gcc and for clang
 * (clang with -gdwarf-4: its DWARF 5 compiles run locally, docs/cc.md).
 * @timeout 900000 (44 builds with real compilers and 12 cmake configures, on a loaded machine)
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startDevFarm, type DevFarm } from '../../wiring/dev-farm.ts';
import { readStats } from '../../client/cc/stats.ts';

const exec = promisify(execFile);
const SHIM = fileURLToPath(new URL('../../client/cc/native/kiln-cc', import.meta.url));
const hasCmake =
  spawnSync('cmake', ['--version']).status === 0 && spawnSync('ninja', ['--version']).status === 0;
const hasClang = spawnSync('clang', ['--version']).status === 0;
const COMPILERS = ['gcc', 'clang'] as const;
type Cc = (typeof COMPILERS)[number];
/** clang reads no fall-through comments: its build only turns warnings into errors. */
const WARN: Record<Cc, string> = { gcc: '-Wimplicit-fallthrough -Werror', clang: '-Wall -Werror' };
/** clang's DWARF 5 line table sums the files read: compiled locally; DWARF 4 goes to the farm. */
const DEBUG: Record<Cc, string> = { gcc: '-g', clang: '-g -gdwarf-4' };
const FILES = 6;

async function project(dir: string): Promise<void> {
  await mkdir(join(dir, 'include'), { recursive: true });
  await mkdir(join(dir, 'src'), { recursive: true });
  await writeFile(join(dir, 'include', 'calc.h'), '#define SCALE(x) ((x) * 3)\nint part(int);\n');
  const names: string[] = [];
  for (let i = 0; i < FILES; i++) {
    await writeFile(
      join(dir, 'src', `p${i}.c`),
      `#include <string.h>\n#include "calc.h"\n/* part ${i} */\nint p${i}(int x) {\n` +
        `  switch (x) {\n  case 0:\n    x++;\n    /* fall through */\n  default:\n` +
        `    return SCALE(x) + ${i} + (int)strlen("p${i}");\n  }\n}\n`,
    );
    names.push(`src/p${i}.c`);
  }
  await writeFile(
    join(dir, 'src', 'main.c'),
    '#include <stdio.h>\n#include "calc.h"\nint p0(int);\nint main(void) { printf("%d\\n", p0(1)); return 0; }\n',
  );
  names.push('src/main.c');
  const objs = names.map((n) => n.replace(/\.c$/, '.o')).join(' ');
  await writeFile(
    join(dir, 'Makefile'),
    `CC ?= gcc\nCFLAGS ?= -O2\nWARN ?= ${WARN.gcc}\nOBJS = ${objs}\napp: $(OBJS)\n\tgcc -o $@ $(OBJS)\n` +
      `%.o: %.c\n\t$(CC) $(CFLAGS) $(WARN) -Iinclude -MMD -c $< -o $@\n`,
  );
  // automake's layout: make runs in the subdirectory.
  await writeFile(
    join(dir, 'src', 'Makefile'),
    `CC ?= gcc\nCFLAGS ?= -O2\nWARN ?= ${WARN.gcc}\nall: ${names.map((n) => n.slice(4, -2) + '.o').join(' ')}\n` +
      `%.o: %.c\n\t$(CC) $(CFLAGS) $(WARN) -I../include -MMD -c $< -o $@\n`,
  );
  await writeFile(
    join(dir, 'CMakeLists.txt'),
    'cmake_minimum_required(VERSION 3.13)\nproject(calc C)\n' +
      `add_executable(app ${names.join(' ')})\ntarget_include_directories(app PRIVATE include)\n` +
      'target_compile_options(app PRIVATE $<$<C_COMPILER_ID:GNU>:-Wimplicit-fallthrough> -Werror)\n',
  );
}

/** Every `.o` under `dir`, by relative path. */
async function objects(dir: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!e.isFile() || !e.name.endsWith('.o')) continue;
    const p = join(e.parentPath, e.name);
    out.set(relative(dir, p), await readFile(p));
  }
  return out;
}

describe('kiln cc: one cache for every checkout', { timeout: 900_000 }, () => {
  let farm: DevFarm;
  let work: string;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    // A loaded machine makes a builder slow, not absent: wait for a slot rather than fall back.
    farm = await startDevFarm({ builders: 1, slots: 2, port: 0, limits: { placementWaitMs: 60_000 } });
    work = await mkdtemp(join(tmpdir(), 'kiln-cc-co-'));
    env = {
      ...process.env,
      KILN_GATEWAY: farm.url,
      KILN_TOKEN: farm.token,
      KILN_CC_SOCKET: join(work, 'cc.sock'),
      KILN_CC_MANIFESTS: join(work, 'manifests'), // this run's own direct mode and local keep
      KILN_CC_DAEMON_IDLE_MS: '5000',
    };
  });
  after(async () => {
    await farm?.stop();
    await rm(work, { recursive: true, force: true });
  });

  /** A fresh copy of the project at `name` (under the work directory). */
  async function checkout(name: string): Promise<string> {
    const dir = join(work, name);
    await project(dir);
    return dir;
  }

  const counts = (statsFile: string) => {
    const s = readStats({ env: { ...env, KILN_STATS_FILE: statsFile } });
    return {
      hits: s.cacheHits,
      misses: s.cacheMisses,
      local: s.local,
      fallbacks: s.fallbacks,
      why: JSON.stringify({ ...s.fallbackReasons, ...s.localReasons }),
    };
  };

  /**
   * Builds with make locally, keeps the objects, cleans, builds through kiln in the same folder;
   * returns the kiln stats of that build. Objects must equal the local ones.
   */
  async function makeBoth(cc: Cc, dir: string, cflags: string, tag: string, sub = '') {
    const flags = cflags.replaceAll('$DIR', dir);
    const vars = [`CFLAGS=${flags}`, `WARN=${WARN[cc]}`];
    await exec('make', ['-C', join(dir, sub), '-j2', '-B', `CC=${cc}`, ...vars]);
    const local = await objects(dir);
    await exec('make', ['-C', join(dir, sub), '-j2', '-B', `CC=${SHIM} ${cc}`, ...vars], {
      env: { ...env, KILN_STATS_FILE: join(work, `${tag}.json`) },
    });
    assert.deepEqual(await objects(dir), local, `${dir}: objects equal a local build there`);
    if (!sub) assert.equal((await exec(join(dir, 'app'))).stdout, '5\n');
    return counts(join(work, `${tag}.json`));
  }

  const all = (hits: number, misses: number) => ({ hits, misses, local: 0, fallbacks: 0, why: '{}' });

  for (const cc of COMPILERS) {
    const skip = cc === 'clang' && !hasClang && 'clang not installed';

    it(`${cc}: make, relative paths, -O2: the second checkout is all hits`, { skip }, async () => {
      const a = await checkout(`${cc}-a`);
      const b = await checkout(`${cc}-second-checkout-b`);
      assert.deepEqual(await makeBoth(cc, a, '-O2', `${cc}-m1`), all(0, FILES + 1));
      assert.deepEqual(await makeBoth(cc, b, '-O2', `${cc}-m2`), all(FILES + 1, 0));
    });

    it(
      `${cc}: make with -g: shared when -ffile-prefix-map takes the folder out, exact per checkout when not`,
      { skip },
      async () => {
        const a = await checkout(`${cc}-ga`);
        const b = await checkout(`${cc}-g-second-checkout`);
        const mapped = `-O2 ${DEBUG[cc]} -ffile-prefix-map=$DIR=.`;
        assert.deepEqual(await makeBoth(cc, a, mapped, `${cc}-g1`), all(0, FILES + 1));
        assert.deepEqual(await makeBoth(cc, b, mapped, `${cc}-g2`), all(FILES + 1, 0));
        // Without a map the debug info names each folder: right objects, each checkout its own entries.
        assert.deepEqual(await makeBoth(cc, a, `-O2 ${DEBUG[cc]}`, `${cc}-g3`), all(0, FILES + 1));
        assert.deepEqual(await makeBoth(cc, b, `-O2 ${DEBUG[cc]}`, `${cc}-g4`), all(0, FILES + 1));
      },
    );

    it(
      `${cc}: make -g in a subdirectory with the top folder mapped out (automake, Debian's flags): the second checkout is all hits`,
      { skip },
      async () => {
        const flags = `-O2 ${DEBUG[cc]} -ffile-prefix-map=$DIR=.`;
        const a = await checkout(`${cc}-sa`);
        const b = await checkout(`${cc}-sub-second-checkout`);
        assert.deepEqual(await makeBoth(cc, a, flags, `${cc}-s1`, 'src'), all(0, FILES + 1));
        assert.deepEqual(await makeBoth(cc, b, flags, `${cc}-s2`, 'src'), all(FILES + 1, 0));
      },
    );
  }

  // gcc with both generators; clang with Ninja.
  const cmakeCases: [Cc, string][] = [
    ['gcc', 'Ninja'],
    ['gcc', 'Unix Makefiles'],
    ['clang', 'Ninja'],
  ];
  for (const [cc, generator] of cmakeCases) {
    it(
      `${cc}: CMake (${generator}) through the launcher and the native front: absolute paths, all hits in the second checkout`,
      {
        skip:
          (!hasCmake && 'cmake or ninja not installed') ||
          (cc === 'clang' && !hasClang && 'clang not installed'),
      },
      async () => {
        const tag = `${cc}-${generator === 'Ninja' ? 'n' : 'u'}`;
        const results = [];
        for (const name of [`${tag}-cm`, `${tag}-cmake-checkout-two`]) {
          const dir = await checkout(name);
          const build = join(dir, 'build');
          const configure = (launcher: string[]) =>
            exec('cmake', [
              '-S',
              dir,
              '-B',
              build,
              '-G',
              generator,
              `-DCMAKE_BUILD_TYPE=${generator === 'Ninja' ? 'Release' : 'MinSizeRel'}`,
              `-DCMAKE_C_COMPILER=${cc}`,
              ...launcher,
            ]);
          await configure([]);
          await exec('cmake', ['--build', build, '-j2']);
          const local = await objects(build);
          assert.equal(local.size, FILES + 1);
          await rm(build, { recursive: true });
          await configure([`-DCMAKE_C_COMPILER_LAUNCHER=${SHIM}`]);
          const stats = join(work, `${name}.json`);
          await exec('cmake', ['--build', build, '-j2'], { env: { ...env, KILN_STATS_FILE: stats } });
          assert.deepEqual(await objects(build), local, `${name}: objects equal a local build there`);
          assert.equal((await exec(join(build, 'app'))).stdout, '5\n');
          results.push(counts(stats));
        }
        assert.deepEqual(results, [all(0, FILES + 1), all(FILES + 1, 0)]);
      },
    );
  }
});
