/**
 * `kiln cc` as make runs it: one real `kiln` process per compile against a local farm. Objects
 * equal a local build's, depfiles keep make quiet, diagnostics equal gcc's, and a farm that goes
 * away mid-build costs nothing but fallbacks.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdtemp, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startDevFarm, type DevFarm } from '../../wiring/dev-farm.ts';
import { readStats } from '../../client/cc/stats.ts';

const run = promisify(execFile);
const KILN = fileURLToPath(new URL('../../client/bin/kiln.js', import.meta.url));
const SHIM = fileURLToPath(new URL('../../client/cc/native/kiln-cc', import.meta.url));
const FILES = 8;

async function project(dir: string): Promise<void> {
  await mkdir(join(dir, 'include'), { recursive: true });
  await writeFile(join(dir, 'include', 'lib.h'), '#pragma once\n#define SCALE 3\nint part(int);\n');
  const objs: string[] = [];
  for (let i = 0; i < FILES; i++) {
    await writeFile(
      join(dir, `p${i}.c`),
      `#include "lib.h"\nint p${i}(int x) { return x * SCALE + ${i}; }\n`,
    );
    objs.push(`p${i}.o`);
  }
  await writeFile(
    join(dir, 'main.c'),
    '#include <stdio.h>\n#include "lib.h"\nint main(void) { printf("%d\\n", SCALE); return 0; }\n',
  );
  await writeFile(
    join(dir, 'Makefile'),
    `CC ?= gcc\nCFLAGS = -O2 -Iinclude -MMD\nOBJS = main.o ${objs.join(' ')}\n` +
      `app: $(OBJS)\n\tgcc -o $@ $(OBJS)\n%.o: %.c\n\t$(CC) $(CFLAGS) -c $< -o $@\n-include $(OBJS:.o=.d)\n`,
  );
}

describe('kiln cc under make', { timeout: 300_000 }, () => {
  let farm: DevFarm;
  let work: string;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    farm = await startDevFarm({ builders: 1, slots: 2, port: 0 });
    work = await mkdtemp(join(tmpdir(), 'kiln-cc-'));
    env = {
      ...process.env,
      KILN_GATEWAY: farm.url,
      KILN_TOKEN: farm.token,
      KILN_STATS_FILE: join(work, 'stats.json'),
      KILN_CC_SOCKET: join(work, 'cc.sock'),
      KILN_CC_DAEMON_IDLE_MS: '3000',
    };
  });
  after(async () => {
    await farm?.stop();
    await rm(work, { recursive: true, force: true });
  });

  const make = (dir: string, args: string[], e = env) => run('make', ['-C', dir, '-j2', ...args], { env: e });

  it('builds the same objects as local gcc, writes depfiles make trusts, and answers repeats from the cache', async () => {
    const local = join(work, 'local');
    const farmed = join(work, 'farmed');
    await project(local);
    await cp(local, farmed, { recursive: true });
    await make(local, ['CC=gcc']);
    await make(farmed, [`CC=${SHIM} gcc`]); // the native front and its daemon, as make uses them
    for (const f of (await readdir(local)).filter((n) => n.endsWith('.o') || n.endsWith('.d'))) {
      assert.deepEqual(await readFile(join(farmed, f)), await readFile(join(local, f)), `${f} is identical`);
    }
    const s = readStats({ env });
    assert.equal(s.cacheMisses, FILES + 1, 'every compile ran on the farm');
    const q = await run('make', ['-C', farmed, '-q', 'app'], { env }).then(
      () => 0,
      (e: { code: number }) => e.code,
    );
    assert.equal(q, 0, 'make has nothing left to do');
    // Touching the header makes everything stale again, through the depfiles.
    await writeFile(join(farmed, 'include', 'lib.h'), '#pragma once\n#define SCALE 3\nint part(int);\n');
    const stale = await run('make', ['-C', farmed, '-q', 'app'], { env }).then(
      () => 0,
      (e: { code: number }) => e.code,
    );
    assert.equal(stale, 1);
    await rm(join(farmed, 'p3.o'));
    await make(farmed, [`CC=node ${KILN} cc gcc`]);
    assert.ok(readStats({ env }).cacheHits >= 1, 'a rebuilt unchanged file is a cache hit');
  });

  it('a syntax error prints the same diagnostic and exit code as local gcc', async () => {
    const dir = join(work, 'bad');
    await mkdir(dir);
    await writeFile(join(dir, 'bad.c'), 'int f(void) {\n  return 1\n}\n');
    const local = await run('gcc', ['-c', 'bad.c'], { cwd: dir, env }).then(
      () => null,
      (e: { code: number; stderr: string }) => e,
    );
    const farmed = await run('node', [KILN, 'gcc', '-c', 'bad.c'], { cwd: dir, env }).then(
      () => null,
      (e: { code: number; stderr: string }) => e,
    );
    assert.ok(local && farmed);
    assert.equal(farmed.code, local.code);
    assert.equal(farmed.stderr, local.stderr);
  });

  it('with the gateway stopped mid-build, the build still succeeds and kiln stats shows the fallbacks', async () => {
    const dir = join(work, 'fallback');
    await project(dir);
    // Manifests of its own: the earlier builds of these sources would make them direct hits
    // answered by the results kept here, with no farm (test/e2e/cc-direct.test.ts).
    const statsEnv = {
      ...env,
      KILN_STATS_FILE: join(work, 'stats-fallback.json'),
      KILN_CC_MANIFESTS: join(work, 'manifests-fallback'),
    };
    await run('node', [KILN, 'gcc', '-O2', '-Iinclude', '-MMD', '-c', 'p0.c', '-o', 'p0.o'], {
      cwd: dir,
      env: statsEnv,
    });
    await farm.stopGateway();
    await make(dir, [`CC=${SHIM} gcc`], statsEnv);
    const app = await run(join(dir, 'app'));
    assert.equal(app.stdout, '3\n');
    const out = await run('node', [KILN, 'stats', '--json'], { env: statsEnv });
    const s = JSON.parse(out.stdout) as { fallbacks: number; fallbackReasons: Record<string, number> };
    assert.equal(s.fallbacks, FILES, 'every compile after the stop fell back');
    assert.equal(s.fallbackReasons.unreachable, FILES);
  });
});
