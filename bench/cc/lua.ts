/**
 * Lua 5.4 (the upstream `src/` tree of `apt-get source lua5.4`): its own Makefile,
 * `make -C src -jN CC="<compiler> -std=gnu99" linux` (the Makefile's own CC keeps -std=gnu99).
 * Checks: `lua -v`, `luac -v` and a script whose output must match the local build's.
 */
import { join } from 'node:path';
import { ccLine, type Project } from './project.ts';
import { must, run } from './proc.ts';

/** The Makefile's own `CC` is `gcc -std=gnu99`: every variant keeps the flag. */
export const LUA_STD = '-std=gnu99';

/** Exercises the interpreter (strings, tables, coroutines, integers, utf8, pack, errors). */
const SCRIPT = `local t = {} for i = 1, 5000 do t[i] = (i * 7919) % 10007 end table.sort(t)
local s = 0 for i, v in ipairs(t) do s = s + i * v end
local co = coroutine.wrap(function(a) local b = coroutine.yield(a + 1) return b * 2 end)
local ok, e = pcall(error, {code = 7})
print(s, co(1), co(20), string.format('%.6f', math.sin(1)), ('kiln'):rep(3):upper():gsub('K', 'k'),
  ok, e.code, utf8.char(955, 8364), #string.pack('i4d', 7, 1.5), math.type(7 // 2), 1 << 62, 7 // 0.0)`;

export const lua: Project = {
  name: 'lua',
  package: 'lua5.4',
  marker: 'src/Makefile',
  describe: `upstream src/, make -jN CC="<cc> ${LUA_STD}" linux (-O2, no -g)`,
  setup: async () => {},
  build: (dir, c, jobs) => ({
    cmd: 'make',
    args: ['-C', 'src', `-j${jobs}`, `CC=${ccLine(c, LUA_STD)}`, 'linux'],
    cwd: dir,
  }),
  clean: async (dir, env) => {
    await must('make', ['-C', 'src', 'clean'], { cwd: dir, env });
  },
  check: async (dir) => {
    const bin = join(dir, 'src', 'lua');
    const v = await run(bin, ['-v']);
    const two = await run(bin, ['-e', 'print(1+1)']);
    const sc = await run(bin, ['-e', SCRIPT]);
    const problems: string[] = [];
    if (v.code !== 0 || !/^Lua 5\.4/.test(v.stdout)) problems.push(`lua -v: ${v.stdout}${v.stderr}`.trim());
    if (two.code !== 0 || two.stdout.trim() !== '2')
      problems.push(`print(1+1): ${two.stdout}${two.stderr}`.trim());
    if (sc.code !== 0) problems.push(`script: ${sc.stderr.trim()}`);
    const luac = await run(join(dir, 'src', 'luac'), ['-v']);
    if (luac.code !== 0) problems.push(`luac -v: ${luac.stderr.trim()}`);
    return {
      ok: problems.length === 0,
      text: problems.join('; ') || 'lua -v, luac -v, a script',
      output: sc.stdout,
    };
  },
};
