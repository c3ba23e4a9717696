/**
 * `kiln cc` gives exactly what the local compiler gives, for gcc and for clang, on sources whose
 * result depends on what plain preprocessing loses: comments that silence -Wimplicit-fallthrough
 * under -Werror, __FILE__/__LINE__/#line, debug info. The same stdout, stderr, exit code and
 * object bytes as a local compile in the same folder; and the stats say where each compile ran.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startDevFarm, type DevFarm } from '../../wiring/dev-farm.ts';
import { readStats } from '../../client/cc/stats.ts';

const SHIM = fileURLToPath(new URL('../../client/cc/native/kiln-cc', import.meta.url));
const hasClang = spawnSync('clang', ['--version']).status === 0;
const COUNTER_LOCAL = '__COUNTER__ in #if or #include (counted by the local preprocessing)';

const SOURCES: Record<string, string> = {
  'inc/util.h': '#define TWICE(x) ((x) + (x))\nstatic inline int twice(int v) { return TWICE(v); }\n',
  // gcc honours the comment; full -E output has none, so -Werror would fail there.
  'src/fall.c':
    '#include "util.h"\nint step(int x) {\n  switch (x) {\n  case 1:\n    x = TWICE(x);\n' +
    '    /* fall through */\n  case 2:\n    return twice(x);\n  default:\n    return 0;\n  }\n}\n',
  'src/where.c':
    '#include <stdio.h>\n#include "util.h"\nvoid where(void) {\n  printf("%s:%d\\n", __FILE__, __LINE__);\n' +
    '#line 100 "renamed.c"\n  printf("%s:%d %d\\n", __FILE__, __LINE__, TWICE(__LINE__));\n}\n',
  // Found here but never included: the remote compile must find it too.
  'inc/probe.h': '#error not to be included\n',
  'src/probe.c':
    '#include <unistd.h>\n#if __has_include("probe.h") && __has_include(<probe.h>)\nint probe = 1;\n#else\nint probe = 2;\n#endif\n' +
    '#define P "probe.h"\nint probed(void) { return probe + getpid(); }\n',
  // Over the 64 files a job carries inline (118 headers): its overlay goes through the blob store.
  'src/many.c':
    '#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n#include <unistd.h>\n#include <signal.h>\n' +
    '#include <pthread.h>\n#include <sys/socket.h>\n#include <netinet/in.h>\nint many(void) { return (int)getpid(); }\n',
  'src/probe-macro.c': '#define P "probe.h"\n#if __has_include(P)\nint probe = 1;\n#endif\n',
  'src/warn.c': '#include "util.h"\nint warn(void) {\n  int unused;\n  return twice(2);\n}\n',
  // gnulib's verify.h: gcc -fdirectives-only refuses __COUNTER__ in a directive.
  'src/counter.c':
    '#if defined __COUNTER__ && __COUNTER__ != __COUNTER__\n# define ID __COUNTER__\n#else\n# define ID __LINE__\n#endif\n' +
    'int counter(void) { return ID + 10 * ID; }\n',
};

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    c.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    c.on('error', reject);
    c.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

describe("kiln cc: the local compiler's diagnostics and objects", { timeout: 300_000 }, () => {
  let farm: DevFarm;
  let dir: string;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    // A loaded machine makes a builder slow, not absent: wait for a slot rather than fall back.
    farm = await startDevFarm({ builders: 1, slots: 2, port: 0, limits: { placementWaitMs: 60_000 } });
    dir = await mkdtemp(join(tmpdir(), 'kiln-cc-exact-'));
    // Over the 6 MiB inline limit (a comment survives preprocessing): it goes through the blob store.
    const big = `/*${'the quick brown fox jumps over the lazy dog\n'.repeat(160_000)}*/\n`;
    const sources = {
      ...SOURCES,
      'src/big.c': `${big}#include "util.h"\nint big(int v) { return twice(v); }\n`,
    };
    for (const [name, text] of Object.entries(sources)) {
      await mkdir(join(dir, name, '..'), { recursive: true });
      await writeFile(join(dir, name), text);
    }
    env = {
      ...process.env,
      KILN_GATEWAY: farm.url,
      KILN_TOKEN: farm.token,
      KILN_STATS_FILE: join(dir, 'stats.json'),
      KILN_CC_SOCKET: join(dir, 'cc.sock'),
      KILN_CC_MANIFESTS: join(dir, 'manifests'), // this run's own direct mode and local keep
      KILN_CC_DAEMON_IDLE_MS: '5000',
      LC_ALL: 'C',
    };
  });
  after(async () => {
    await farm?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  /**
   * Compiles `flags -c src/<file> -o <obj>` locally and through kiln (the native front), in the
   * same folder, and asserts the same outcome. Returns how kiln ran it (stats delta).
   */
  async function same(
    cc: string,
    flags: string[],
    file: string,
  ): Promise<{ remote: number; local: number; code: number }> {
    const obj = file.replace(/\.c$/, '');
    const argv = [...flags, '-Iinc', '-c', `src/${file}`];
    const local = await run(cc, [...argv, '-o', `${obj}.local.o`], dir, env);
    const before = readStats({ env });
    const ours = await run(SHIM, [cc, ...argv, '-o', `${obj}.kiln.o`], dir, env);
    const after = readStats({ env });
    const what = `${cc} ${argv.join(' ')}`;
    assert.equal(ours.code, local.code, `${what}: exit code`);
    assert.equal(ours.stderr, local.stderr, `${what}: stderr`);
    assert.equal(ours.stdout, local.stdout, `${what}: stdout`);
    const lo = join(dir, `${obj}.local.o`);
    const ko = join(dir, `${obj}.kiln.o`);
    assert.equal(existsSync(ko), existsSync(lo), `${what}: an object exactly when local made one`);
    if (existsSync(lo)) assert.ok((await readFile(ko)).equals(await readFile(lo)), `${what}: object bytes`);
    await rm(lo, { force: true });
    await rm(ko, { force: true });
    return {
      remote: after.remote - before.remote,
      local: after.local - before.local,
      code: local.code,
    };
  }

  it('gcc: /* fall through */ comments keep -Wimplicit-fallthrough -Werror quiet, on the farm', async () => {
    const r = await same('gcc', ['-O2', '-Wimplicit-fallthrough', '-Werror'], 'fall.c');
    assert.deepEqual(r, { remote: 1, local: 0, code: 0 });
  });

  it('gcc: __FILE__, __LINE__ and #line as a local compile has them, with and without -g', async () => {
    assert.deepEqual(await same('gcc', ['-O2'], 'where.c'), { remote: 1, local: 0, code: 0 });
    assert.deepEqual(await same('gcc', ['-O2', '-g'], 'where.c'), { remote: 1, local: 0, code: 0 });
    assert.deepEqual(await same('gcc', ['-g3', '-Og'], 'fall.c'), { remote: 1, local: 0, code: 0 });
  });

  it("gcc: a warning is the local compiler's text, excerpt and all (compiled here)", async () => {
    const r = await same('gcc', ['-O2', '-Wall'], 'warn.c');
    assert.deepEqual(r, { remote: 0, local: 1, code: 0 });
    assert.equal(readStats({ env }).localReasons['the compile printed diagnostics'], 1);
  });

  it('gcc: __COUNTER__ in #if (gnulib) compiles here, silently, with the local object', async () => {
    assert.deepEqual(await same('gcc', ['-O2'], 'counter.c'), { remote: 0, local: 1, code: 0 });
    assert.equal(readStats({ env }).localReasons[COUNTER_LOCAL], 1);
  });

  it('a compile over the inline limit goes to the farm through blobs', async () => {
    assert.deepEqual(await same('gcc', ['-O2'], 'big.c'), { remote: 1, local: 0, code: 0 });
  });

  it('gcc: an error has the local exit code and text', async () => {
    const r = await same('gcc', ['-O2', '-Wall', '-Werror'], 'warn.c');
    assert.deepEqual(r, { remote: 0, local: 1, code: 1 });
  });

  it('clang: the same for clang', { skip: !hasClang && 'clang not installed' }, async () => {
    // clang does not read fall-through comments: an error here as locally.
    assert.deepEqual(await same('clang', ['-O2', '-Wimplicit-fallthrough', '-Werror'], 'fall.c'), {
      remote: 0,
      local: 1,
      code: 1,
    });
    assert.deepEqual(await same('clang', ['-O2'], 'fall.c'), { remote: 1, local: 0, code: 0 });
    assert.deepEqual(await same('clang', ['-O2'], 'where.c'), { remote: 1, local: 0, code: 0 });
    // clang's preprocessing counts the #if's __COUNTER__ and leaves `#if 1`: the remote compile
    // would count from 0 again (a different object), so it compiles here.
    const counted = readStats({ env }).localReasons[COUNTER_LOCAL] ?? 0;
    assert.deepEqual(await same('clang', ['-O2'], 'counter.c'), { remote: 0, local: 1, code: 0 });
    assert.equal(readStats({ env }).localReasons[COUNTER_LOCAL], counted + 1);
    assert.deepEqual(await same('clang', ['-O2', '-g', '-gdwarf-4'], 'where.c'), {
      remote: 1,
      local: 0,
      code: 0,
    });
    assert.deepEqual(await same('clang', ['-O2', '-Wall'], 'warn.c'), { remote: 0, local: 1, code: 0 });
  });

  it(
    "clang: warnings about unknown -W options are the local compiler's, from the farm",
    {
      skip: !hasClang && 'clang not installed',
    },
    async () => {
      const unknown = ['-O2', '-Wfoo-bar', '-Wno-baz'];
      const reason = "clang's option warnings on a terminal (compiled here, in colour)";
      // On the farm, the same two warnings and their count as locally; again from the manifest.
      assert.deepEqual(await same('clang', unknown, 'fall.c'), { remote: 1, local: 0, code: 0 });
      assert.deepEqual(await same('clang', unknown, 'fall.c'), { remote: 1, local: 0, code: 0 });
      // Forced colour: the remote compile colours them as the local one does.
      assert.deepEqual(await same('clang', [...unknown, '-fcolor-diagnostics'], 'where.c'), {
        remote: 1,
        local: 0,
        code: 0,
      });
      // The source adds a warning (the count differs from the preprocessing's): compiled here.
      assert.deepEqual(await same('clang', [...unknown, '-Wall'], 'warn.c'), {
        remote: 0,
        local: 1,
        code: 0,
      });
      // -Werror makes them errors: the local compiler's failure.
      assert.deepEqual(await same('clang', [...unknown, '-Werror'], 'fall.c'), {
        remote: 0,
        local: 1,
        code: 1,
      });
      assert.equal(readStats({ env }).localReasons[reason], undefined);
    },
  );

  it(
    'clang -g (DWARF 5): on the farm over the local files, the local object',
    {
      skip: !hasClang && 'clang not installed',
    },
    async () => {
      // Its line table sums every file: the local cc1 command runs over an overlay of the files read.
      for (const flags of [
        ['-O2', '-g'],
        ['-g3', '-O0'],
        ['-O2', '-g', '-MD', '-MF', 'src/where.d'],
      ])
        assert.deepEqual(await same('clang', flags, 'where.c'), { remote: 1, local: 0, code: 0 });
      assert.ok((await readFile(join(dir, 'src/where.d'), 'utf8')).includes('inc/util.h'));
      assert.deepEqual(await same('clang', ['-O2', '-g'], 'fall.c'), { remote: 1, local: 0, code: 0 });
      assert.deepEqual(await same('clang', ['-O2', '-g'], 'many.c'), { remote: 1, local: 0, code: 0 });
      // A header probed with __has_include but never read is in the overlay as well.
      assert.deepEqual(await same('clang', ['-O1', '-g'], 'probe.c'), { remote: 1, local: 0, code: 0 });
      const before = readStats({ env }).localReasons;
      assert.deepEqual(await same('clang', ['-O1', '-g'], 'probe-macro.c'), { remote: 0, local: 1, code: 0 });
      const why = 'clang -g with DWARF 5 (no cc1 command, or __has_include of a macro)';
      assert.equal(readStats({ env }).localReasons[why], (before[why] ?? 0) + 1);
      assert.deepEqual(await same('clang', ['-O2', '-g', '-Wall'], 'warn.c'), {
        remote: 0,
        local: 1,
        code: 0,
      });
    },
  );

  it('colours diagnostics as gcc does on a terminal, through the native front', async () => {
    // `script` gives the compiler (local) and kiln-cc a terminal as stderr.
    const tty = (cmd: string): Promise<Ran> =>
      run('script', ['-qec', cmd, '/dev/null'], dir, { ...env, TERM: 'xterm' });
    const local = await tty('gcc -O2 -Wall -Iinc -c src/warn.c -o warn.local.o');
    const ours = await tty(`${SHIM} gcc -O2 -Wall -Iinc -c src/warn.c -o warn.kiln.o`);
    assert.ok(local.stdout.includes('\u001b['), 'gcc colours on a terminal');
    assert.equal(ours.stdout, local.stdout);
    assert.ok((await readFile(join(dir, 'warn.kiln.o'))).equals(await readFile(join(dir, 'warn.local.o'))));
  });
});
