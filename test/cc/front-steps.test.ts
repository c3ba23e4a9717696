/**
 * The native front runs the daemon's commands (client/cc/front-steps.ts): the real kiln-cc binary
 * through a real daemon and farm. A `gcc` first in PATH logs the name of the process that started
 * it, so each case also shows who ran the preprocessor and the local compile: the front, not the
 * daemon. Diagnostics, exit codes and objects equal a local gcc's.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startDevFarm, type DevFarm } from '../../wiring/dev-farm.ts';
import { readStats } from '../../client/cc/stats.ts';

const exec = promisify(execFile);
const SHIM = fileURLToPath(new URL('../../client/cc/native/kiln-cc', import.meta.url));

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

const run = (cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<Ran> =>
  exec(cmd, args, { cwd, env }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({
      code: e.code,
      stdout: e.stdout,
      stderr: e.stderr,
    }),
  );

describe('the native front runs the daemon’s commands', { timeout: 300_000 }, () => {
  let farm: DevFarm;
  let work: string;
  let env: NodeJS.ProcessEnv;
  let log: string;

  before(async () => {
    farm = await startDevFarm({ builders: 1, slots: 2, port: 0 });
    work = await mkdtemp(join(tmpdir(), 'kiln-front-'));
    const bin = join(work, 'bin');
    log = join(work, 'gcc.log');
    await mkdir(bin);
    const real = (await exec('sh', ['-c', 'command -v gcc'])).stdout.trim();
    // Which process started each gcc, and with what.
    await writeFile(
      join(bin, 'gcc'),
      `#!/bin/sh\necho "$(cat /proc/$PPID/comm) $*" >> ${log}\nexec ${real} "$@"\n`,
    );
    await chmod(join(bin, 'gcc'), 0o755);
    env = {
      ...process.env,
      PATH: `${bin}:${process.env.PATH}`,
      KILN_GATEWAY: farm.url,
      KILN_TOKEN: farm.token,
      XDG_CONFIG_HOME: join(work, 'config'),
      KILN_STATS_FILE: join(work, 'stats.json'),
      KILN_CC_MANIFESTS: join(work, 'manifests'),
      KILN_CC_RESULTS_MB: '0',
      KILN_CC_SOCKET: join(work, 'sock', 'cc.sock'),
      KILN_CC_DAEMON_IDLE_MS: '3000',
    };
  });
  after(async () => {
    await farm?.stop();
    await rm(work, { recursive: true, force: true });
  });

  /** The log lines of the gcc runs since the last call. */
  let seen = 0;
  async function starters(): Promise<string[]> {
    const lines = (await readFile(log, 'utf8').catch(() => '')).split('\n').filter(Boolean);
    const fresh = lines.slice(seen);
    seen = lines.length;
    return fresh;
  }

  it('a gcc -E failure: the local compile’s stderr and exit code, both run by the front', async () => {
    const dir = join(work, 'missing');
    await mkdir(dir);
    await writeFile(join(dir, 'bad.c'), '#include "nope.h"\nint x;\n');
    const local = await run('gcc', ['-c', 'bad.c'], dir, process.env);
    await starters();
    const front = await run(SHIM, ['gcc', '-c', 'bad.c'], dir, env);
    assert.equal(local.code, 1);
    assert.equal(front.code, local.code);
    assert.equal(front.stderr, local.stderr);
    const ran = await starters();
    assert.ok(
      ran.some((l) => l.startsWith('kiln-cc ') && l.includes(' -E ')),
      `the front ran gcc -E: ${ran.join(' | ')}`,
    );
    assert.ok(
      ran.every((l) => l.startsWith('kiln-cc ')),
      `no gcc started by the daemon: ${ran.join(' | ')}`,
    );
  });

  it('a successful compile: preprocessed by the front, compiled on the farm, the same object as local gcc', async () => {
    const dir = join(work, 'ok');
    await mkdir(dir);
    await writeFile(join(dir, 'lib.h'), '#define SCALE 3\n');
    await writeFile(join(dir, 'a.c'), '#include "lib.h"\nint a(int x) { return x * SCALE; }\n');
    await run('gcc', ['-O2', '-c', 'a.c', '-o', 'local.o'], dir, process.env);
    await starters();
    const front = await run(SHIM, ['gcc', '-O2', '-MMD', '-c', 'a.c', '-o', 'a.o'], dir, env);
    assert.deepEqual(front, { code: 0, stdout: '', stderr: '' });
    assert.deepEqual(await readFile(join(dir, 'a.o')), await readFile(join(dir, 'local.o')));
    assert.equal(await readFile(join(dir, 'a.d'), 'utf8'), 'a.o: a.c lib.h\n');
    assert.equal(readStats({ env }).cacheMisses, 1, 'the compile ran on the farm');
    const ran = await starters();
    assert.deepEqual(
      ran.map((l) => l.split(' ')[0]),
      ['kiln-cc'],
      `one gcc here, the front's preprocessing: ${ran.join(' | ')}`,
    );
  });

  it('the local fallback (no farm): the front runs the compiler, its warnings and object as local gcc’s', async () => {
    const dir = join(work, 'fallback');
    await mkdir(dir);
    await writeFile(join(dir, 'w.c'), 'int w(void) { int unused; return 0; }\n');
    const args = ['-Wall', '-c', 'w.c', '-o'];
    const local = await run('gcc', [...args, 'local.o'], dir, process.env);
    assert.match(local.stderr, /unused variable/);
    await starters();
    const noFarm = { ...env, KILN_GATEWAY: 'http://127.0.0.1:9' };
    const front = await run(SHIM, ['gcc', ...args, 'w.o'], dir, noFarm);
    assert.deepEqual(front, { code: 0, stdout: '', stderr: local.stderr });
    assert.deepEqual(await readFile(join(dir, 'w.o')), await readFile(join(dir, 'local.o')));
    const ran = await starters();
    assert.ok(ran.length > 0 && ran.every((l) => l.startsWith('kiln-cc ')), ran.join(' | '));
    assert.ok(
      ran.some((l) => !l.includes(' -E ')),
      `the front ran the compile: ${ran.join(' | ')}`,
    );
    // A compiler that is not there: the same words and code as kiln cc run directly.
    const missing = await run(SHIM, ['no-such-cc', '-c', 'w.c'], dir, noFarm);
    assert.deepEqual(missing, { code: 127, stdout: '', stderr: 'kiln cc: no-such-cc: command not found\n' });
  });
});
