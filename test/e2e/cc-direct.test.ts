/**
 * kiln cc's direct mode: a compile seen before is answered from its manifest and a cached result
 * (kept on this machine, else the farm's) without running the preprocessor, and a header whose
 * contents changed (even with its size and times put back, even once its digest is remembered)
 * is noticed. Plus the route it asks, GET /api/v1/actions/{key}, and a hit with no farm at all.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startDevFarm, type DevFarm } from '../../wiring/dev-farm.ts';
import { readStats } from '../../client/cc/stats.ts';
import { SETTLED_MS } from '../../client/cc/file-digests.ts';

const exec = promisify(execFile);
const SHIM = fileURLToPath(new URL('../../client/cc/native/kiln-cc', import.meta.url));
const hasClang = spawnSync('clang', ['--version']).status === 0;

describe('kiln cc direct mode', { timeout: 300_000 }, () => {
  let farm: DevFarm;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  const log = (): string => join(dir, 'gcc.log');

  before(async () => {
    farm = await startDevFarm({ builders: 1, slots: 2, port: 0, limits: { placementWaitMs: 60_000 } });
    dir = await mkdtemp(join(tmpdir(), 'kiln-cc-direct-'));
    // A gcc that notes every preprocessing run, so the test sees when there was none.
    await mkdir(join(dir, 'bin'));
    for (const cc of ['gcc', 'clang']) {
      await writeFile(
        join(dir, 'bin', cc),
        `#!/bin/sh\ncase " $* " in *" -E "*) echo E >> ${join(dir, 'gcc.log')};; esac\nexec /usr/bin/${cc} "$@"\n`,
      );
      await chmod(join(dir, 'bin', cc), 0o755);
    }
    await mkdir(join(dir, 'inc'));
    await writeFile(join(dir, 'inc', 'k.h'), '#define K 1\n');
    await writeFile(join(dir, 'a.c'), '#include "k.h"\nint a(void) { return K; }\n');
    env = {
      ...process.env,
      PATH: `${join(dir, 'bin')}:${process.env.PATH}`,
      KILN_GATEWAY: farm.url,
      KILN_TOKEN: farm.token,
      KILN_STATS_FILE: join(dir, 'stats.json'),
      KILN_CC_SOCKET: join(dir, 'cc.sock'),
      KILN_CC_MANIFESTS: join(dir, 'manifests'),
      KILN_CC_DAEMON_IDLE_MS: '5000',
    };
  });
  after(async () => {
    await farm?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const preprocessed = async (): Promise<number> =>
    (await readFile(log(), 'utf8').catch(() => '')).split('\n').filter(Boolean).length;
  const compile = () =>
    exec(SHIM, ['gcc', '-O2', '-Iinc', '-MMD', '-c', 'a.c', '-o', 'a.o'], { cwd: dir, env });
  const local = async (): Promise<Buffer> => {
    await exec('/usr/bin/gcc', ['-O2', '-Iinc', '-c', 'a.c', '-o', 'local.o'], { cwd: dir });
    return readFile(join(dir, 'local.o'));
  };

  /** Every kept result file (client/cc/results.ts). */
  const keptFiles = async (): Promise<string[]> => {
    const root = join(dir, 'manifests', 'results');
    const subs = await readdir(root).catch(() => [] as string[]);
    const out: string[] = [];
    for (const sub of subs) for (const f of await readdir(join(root, sub))) out.push(join(root, sub, f));
    return out;
  };

  it('the second compile is a hit without preprocessing, with the same object and depfile', async () => {
    await compile();
    const depfile = await readFile(join(dir, 'a.d'), 'utf8');
    assert.equal(await preprocessed(), 1);
    await rm(join(dir, 'a.o'));
    await rm(join(dir, 'a.d'));
    await compile();
    assert.equal(await preprocessed(), 1, 'no preprocessing on a direct hit');
    assert.equal(await readFile(join(dir, 'a.d'), 'utf8'), depfile);
    assert.ok((await readFile(join(dir, 'a.o'))).equals(await local()));
    const s = readStats({ env });
    assert.deepEqual([s.cacheMisses, s.cacheHits], [1, 1]);
  });

  it('a header edited to the same size with its times put back is still noticed', async () => {
    const h = join(dir, 'inc', 'k.h');
    const before = await stat(h);
    await writeFile(h, '#define K 2\n'); // same length
    await utimes(h, before.atime, before.mtime);
    await compile();
    assert.equal(await preprocessed(), 2, 'the manifest did not match: preprocessed again');
    assert.ok((await readFile(join(dir, 'a.o'))).equals(await local()), 'the object for K 2');
    await compile();
    assert.equal(await preprocessed(), 2, 'and the new version is a direct hit in turn');
  });

  it('a settled header whose digest the daemon remembers: a change with the same size and times is still a miss', async () => {
    const h = join(dir, 'inc', 's.h');
    const src = join(dir, 's.c');
    const t = Math.floor(Date.now() / 1000) - 3600; // whole seconds: utimes puts them back exactly
    await writeFile(h, '#define S 1\n');
    await writeFile(src, '#include "s.h"\nint s(void) { return S; }\n');
    for (const f of [h, src]) await utimes(f, t, t);
    // Until their ctime is SETTLED_MS old, digests are never remembered (bounded wait).
    const deadline = Date.now() + SETTLED_MS + 30_000;
    while ((await stat(h)).ctimeMs > Date.now() - SETTLED_MS - 100) {
      assert.ok(Date.now() < deadline, 'the header never settled');
      await new Promise((r) => setTimeout(r, 100));
    }
    const argv = ['gcc', '-O2', '-Iinc', '-c', 's.c', '-o', 's.o'];
    const want = async (): Promise<Buffer> => {
      await exec('/usr/bin/gcc', ['-O2', '-Iinc', '-c', 's.c', '-o', 's.local.o'], { cwd: dir });
      return readFile(join(dir, 's.local.o'));
    };
    const n = await preprocessed();
    await exec(SHIM, argv, { cwd: dir, env });
    await exec(SHIM, argv, { cwd: dir, env });
    assert.equal(await preprocessed(), n + 1, 'the second compile is a direct hit');
    const was = await stat(h);
    await writeFile(h, '#define S 2\n'); // same length, same mtime: only ctime tells
    await utimes(h, t, t);
    assert.equal((await stat(h)).mtimeMs, was.mtimeMs);
    await exec(SHIM, argv, { cwd: dir, env });
    assert.equal(await preprocessed(), n + 2, 'the changed header is noticed: preprocessed again');
    assert.ok((await readFile(join(dir, 's.o'))).equals(await want()), 'the object for S 2');
  });

  it('a kept result that fails its check is dropped: the farm answers, and its result is kept again', async () => {
    const kept = await keptFiles();
    assert.ok(kept.length > 0, 'results are kept here');
    const good = new Map<string, string>();
    for (const f of kept) {
      const text = await readFile(f, 'utf8');
      good.set(f, text);
      const k = JSON.parse(text) as { result: { files: { data: string }[] } };
      for (const o of k.result.files)
        o.data = Buffer.alloc(Buffer.from(o.data, 'base64').length).toString('base64');
      await writeFile(f, JSON.stringify(k));
    }
    await rm(join(dir, 'a.o'));
    const n = await preprocessed();
    await compile();
    assert.equal(await preprocessed(), n, 'still a direct hit');
    assert.ok(
      (await readFile(join(dir, 'a.o'))).equals(await local()),
      "the farm's object, not the changed one",
    );
    const again = await keptFiles();
    assert.ok(
      again.some(
        (f) =>
          good.get(f) !== undefined &&
          JSON.parse(good.get(f)!).result.files[0].data ===
            JSON.parse(readFileSync(f, 'utf8')).result.files[0].data,
      ),
      'the checked result is kept again',
    );
  });

  it('another checkout of the same sources is a direct hit too (the portable manifest)', async () => {
    const other = join(dir, 'second', 'checkout');
    await mkdir(join(other, 'inc'), { recursive: true });
    await writeFile(join(other, 'inc', 'k.h'), await readFile(join(dir, 'inc', 'k.h')));
    await writeFile(join(other, 'a.c'), await readFile(join(dir, 'a.c')));
    const before = await preprocessed();
    await exec(SHIM, ['gcc', '-O2', '-Iinc', '-MMD', '-c', 'a.c', '-o', 'a.o'], { cwd: other, env });
    assert.equal(await preprocessed(), before, 'no preprocessing in the other checkout');
    assert.equal(await readFile(join(other, 'a.d'), 'utf8'), await readFile(join(dir, 'a.d'), 'utf8'));
    assert.ok((await readFile(join(other, 'a.o'))).equals(await local()));
  });

  it(
    'clang: a hit without preprocessing too, in this checkout and in another',
    { skip: !hasClang && 'clang not installed' },
    async () => {
      const other = join(dir, 'clang', 'other-checkout');
      await mkdir(join(other, 'inc'), { recursive: true });
      await writeFile(join(dir, 'c.c'), '#include "k.h"\nint c(void) { return K * 2; }\n');
      await writeFile(join(other, 'c.c'), await readFile(join(dir, 'c.c')));
      await writeFile(join(other, 'inc', 'k.h'), await readFile(join(dir, 'inc', 'k.h')));
      const argv = ['clang', '-O2', '-Iinc', '-MMD', '-c', 'c.c', '-o', 'c.o'];
      await exec('/usr/bin/clang', ['-O2', '-Iinc', '-c', 'c.c', '-o', 'c.local.o'], { cwd: dir });
      const want = await readFile(join(dir, 'c.local.o'));
      const before = await preprocessed();
      await exec(SHIM, argv, { cwd: dir, env });
      assert.equal(await preprocessed(), before + 1, 'the first compile preprocesses');
      const depfile = await readFile(join(dir, 'c.d'), 'utf8');
      await rm(join(dir, 'c.o'));
      await rm(join(dir, 'c.d'));
      const hits = readStats({ env }).cacheHits;
      await exec(SHIM, argv, { cwd: dir, env });
      await exec(SHIM, argv, { cwd: other, env });
      assert.equal(await preprocessed(), before + 1, 'no preprocessing on the direct hits');
      assert.equal(readStats({ env }).cacheHits, hits + 2);
      for (const d of [dir, other]) {
        assert.ok((await readFile(join(d, 'c.o'))).equals(want), `${d}: the object of a local clang compile`);
        assert.equal(await readFile(join(d, 'c.d'), 'utf8'), depfile);
      }
    },
  );

  it('GET /api/v1/actions/{key}: 400 for a malformed key, 404 for an unknown one, 401 without a token', async () => {
    const get = (key: string, token: string | null) =>
      fetch(`${farm.url}/api/v1/actions/${key}`, {
        headers: token ? { Authorization: `Bearer ${token}` } : {},
      });
    const bad = await get('nothex', farm.token);
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as { error: { code: string } }).error.code, 'ERR_VALIDATION');
    const unknown = await get('0'.repeat(64), farm.token);
    assert.equal(unknown.status, 404);
    assert.equal(((await unknown.json()) as { error: { code: string } }).error.code, 'ERR_NOT_FOUND');
    assert.equal((await get('0'.repeat(64), null)).status, 401);
  });

  it('with the gateway gone, a compile seen before is still a direct hit: the result kept here answers it', async () => {
    await farm.stopGateway();
    await rm(join(dir, 'a.o'));
    const n = await preprocessed();
    const hits = readStats({ env }).cacheHits;
    await compile();
    assert.equal(await preprocessed(), n, 'no preprocessing');
    assert.equal(readStats({ env }).cacheHits, hits + 1, 'a hit, not a local compile');
    assert.ok((await readFile(join(dir, 'a.o'))).equals(await local()));
  });
});
