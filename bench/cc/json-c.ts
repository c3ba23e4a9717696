/**
 * json-c (`apt-get source json-c`): CMake with Ninja, the compiler through CMake's launcher
 * (`-DCMAKE_C_COMPILER_LAUNCHER=…`, the native front for kiln), Release (-O3 -DNDEBUG -O2, no -g), its own
 * `-Werror -Wall -Wextra` (so `-Wimplicit-fallthrough` with `/* fall through *\/` comments),
 * shared and static libraries, apps and test programs: absolute source paths, a build directory
 * inside the tree. Checks: test programs against the project's `.expected` files (quick), the
 * whole ctest suite (full).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Project } from './project.ts';
import { must, run } from './proc.ts';

/** Test programs whose stdout the project compares with tests/<name>.expected, run directly. */
const QUICK = ['test1', 'test_parse', 'test_printbuf', 'test_float', 'test_deep_copy', 'test_cast'];

export const jsonC: Project = {
  name: 'json-c',
  package: 'json-c',
  marker: 'json_tokener.c',
  describe:
    'CMake + Ninja through the launcher, Release (-O2, no -g), its own -Werror -Wextra; shared + static libs, apps, tests',
  setup: async (dir, c, env) => {
    await must(
      'cmake',
      [
        '-S',
        dir,
        '-B',
        join(dir, 'build'),
        '-G',
        'Ninja',
        '-DCMAKE_BUILD_TYPE=Release',
        `-DCMAKE_C_COMPILER=${c.cc}`,
        ...(c.launcher.length ? [`-DCMAKE_C_COMPILER_LAUNCHER=${c.launcher.join(';')}`] : []),
      ],
      { cwd: dir, env },
    );
  },
  build: (dir, _c, jobs) => ({ cmd: 'ninja', args: ['-C', 'build', `-j${jobs}`], cwd: dir }),
  clean: async (dir, env) => {
    await must('ninja', ['-C', 'build', 'clean'], { cwd: dir, env });
  },
  check: async (dir, full) => {
    const problems: string[] = [];
    let output = '';
    for (const t of QUICK) {
      const r = await run(join(dir, 'build', 'tests', t), [], { cwd: join(dir, 'build', 'tests') });
      const want = await readFile(join(dir, 'tests', `${t}.expected`), 'utf8');
      if (r.code !== 0 || r.stdout + r.stderr !== want) problems.push(`${t}: differs from ${t}.expected`);
      output += r.stdout;
    }
    let ran = `${QUICK.length} test programs = .expected`;
    if (full) {
      const r = await run('ctest', ['--test-dir', join(dir, 'build'), `-j2`, '--output-on-failure'], {
        cwd: dir,
      });
      const sum = /(\d+)% tests passed, (\d+) tests? failed out of (\d+)/.exec(r.stdout);
      if (r.code !== 0 || !sum) problems.push(`ctest: ${sum?.[0] ?? r.stdout.slice(-500)}`);
      ran += `, ctest ${sum ? `${Number(sum[3]) - Number(sum[2])}/${sum[3]} passed` : 'failed'}`;
    }
    return { ok: problems.length === 0, text: problems.join('; ') || ran, output };
  },
};
