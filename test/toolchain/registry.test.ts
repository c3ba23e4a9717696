/**
 * The toolchain registry against a real farm (redis-server, gateway over HTTP, local store; and
 * S3 through s3rver for presigned uploads): archives, presets, ownership, and the
 * `kiln toolchain push|ls|rm` commands run in-process.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { Redis } from 'ioredis';
import { resolveToolchain } from '../../gateway/toolchains/resolve.ts';
import { KilnError } from '../../protocol/errors.ts';
import { createRedisPresetStore } from '../../redis/presets.ts';
import { startDevFarm, type DevFarm } from '../../wiring/dev-farm.ts';
import { createS3Store } from '../../storage/s3.ts';
import { kiln, type CliResult } from '../helpers/cli.ts';
import { api, codeOf, type Client } from '../helpers/http.ts';
import { startS3rver, type S3rverHandle } from '../helpers/s3rver.ts';

const EVE = 'eve-' + randomBytes(8).toString('hex'); // tenant "other", not an admin
const BOB = 'bob-' + randomBytes(8).toString('hex'); // tenant "dev", not an admin
const AUTH = [
  {
    type: 'token',
    tokens: [
      { token: EVE, sub: 'eve', tenant: 'other' },
      { token: BOB, sub: 'bob', tenant: 'dev' },
    ],
  },
];

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** A small gzip tar with a fake compiler; `salt` makes each archive different. */
async function archive(salt: string): Promise<Uint8Array> {
  const pack = tar.pack();
  pack.entry({ name: 'usr/bin/cc', mode: 0o755 }, `#!/bin/sh\necho ${salt}\n`);
  pack.entry({ name: 'usr/lib/libc.txt' }, salt.repeat(100));
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack as AsyncIterable<Buffer>) chunks.push(c);
  return new Uint8Array(gzipSync(Buffer.concat(chunks)));
}

/** `kiln toolchain …` in-process through the CLI (client/main.ts), as client `c`. */
function cli(c: Client, args: string[], cwd: string): Promise<CliResult> {
  return kiln(args, { url: c.url, token: c.token, cwd, env: { HOME: cwd } });
}

describe('toolchain registry on a local store', { timeout: 60_000 }, () => {
  let farm: DevFarm;
  let dev: Client; // admin, tenant dev
  let eve: Client;
  let bob: Client;
  let work: string;
  let tc: { bytes: Uint8Array; digest: string; file: string };

  before(async () => {
    farm = await startDevFarm({ port: 0, builders: 0, authMethods: AUTH });
    dev = { url: farm.url, token: farm.token };
    eve = { url: farm.url, token: EVE };
    bob = { url: farm.url, token: BOB };
    work = await mkdtemp(join(tmpdir(), 'kiln-tc-'));
    const bytes = await archive('gcc');
    tc = { bytes, digest: sha(bytes), file: join(work, 'gcc.tar.gz') };
    await writeFile(tc.file, bytes);
  });

  after(async () => {
    await farm?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('pushes an archive once: HEAD shows it, a second push uploads 0 bytes', async () => {
    const head0 = await api(dev, `/api/v1/toolchains/${tc.digest}`, { method: 'HEAD' });
    assert.equal(head0.status, 404);

    const args = ['toolchain', 'push', 'gcc.tar.gz', '--name', 'gcc-12', '--platform', 'linux-x86_64'];
    const first = await cli(dev, [...args, '--compiler', '/usr/bin/cc', '--json'], work);
    assert.equal(first.code, 0, first.stderr);
    const out = JSON.parse(first.stdout) as { digest: string; size: number; uploaded: number };
    assert.equal(out.digest, tc.digest);
    assert.equal(out.size, tc.bytes.byteLength);
    assert.equal(out.uploaded, tc.bytes.byteLength);

    const head = await api(dev, `/api/v1/toolchains/${tc.digest}`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), String(tc.bytes.byteLength));
    const stored = await readFile(join(farm.dataDir, 'store', 'toolchains', tc.digest));
    assert.equal(sha(stored), tc.digest);
    const info = await api(eve, `/api/v1/toolchains/${tc.digest}`);
    assert.deepEqual(info.body, {
      digest: tc.digest,
      size: tc.bytes.byteLength,
      owner: { sub: 'dev', tenant: 'dev' },
    });

    const again = await cli(dev, [...args, '--compiler', '/usr/bin/cc', '--json'], work);
    assert.equal(again.code, 0, again.stderr);
    assert.equal((JSON.parse(again.stdout) as { uploaded: number }).uploaded, 0);
    const text = await cli(dev, [...args, '--compiler', '/usr/bin/cc'], work);
    assert.equal(text.code, 0, text.stderr);
    assert.match(
      text.stdout,
      /^gcc-12@linux-x86_64 → [0-9a-f]{64} \(already on the farm, 0 bytes uploaded\)\n$/,
    );
  });

  it('refuses bytes that do not match the digest and stores nothing', async () => {
    const good = await archive('clang');
    const bad = await archive('evil');
    const d = sha(good);
    const put = await api(eve, `/api/v1/toolchains/${d}`, {
      method: 'PUT',
      body: bad as Uint8Array<ArrayBuffer>,
    });
    assert.equal(put.status, 400);
    assert.equal(codeOf(put.body), 'ERR_DIGEST_MISMATCH');
    assert.equal((await api(eve, `/api/v1/toolchains/${d}`, { method: 'HEAD' })).status, 404);
    const left = await readdir(join(farm.dataDir, 'store', 'toolchains'));
    assert.deepEqual(left, [tc.digest], 'no object and no temp file left behind');

    const ok = await api(eve, `/api/v1/toolchains/${d}`, {
      method: 'PUT',
      body: good as Uint8Array<ArrayBuffer>,
    });
    assert.equal(ok.status, 201);
    assert.deepEqual(ok.body, { digest: d, size: good.byteLength, created: true });
    const repeat = await api(eve, `/api/v1/toolchains/${d}`, {
      method: 'PUT',
      body: good as Uint8Array<ArrayBuffer>,
    });
    assert.equal(repeat.status, 200);
    assert.equal((repeat.body as { created: boolean }).created, false);

    const notHex = await api(eve, '/api/v1/toolchains/ABC', { method: 'PUT', body: 'x' });
    assert.equal(notHex.status, 400);
    assert.equal(codeOf(notHex.body), 'ERR_VALIDATION');
    const anon = await api({ url: farm.url, token: 'nope' }, `/api/v1/toolchains/${d}`, {
      method: 'PUT',
      body: 'x',
    });
    assert.equal(anon.status, 401);
  });

  it('refuses an archive over 8 GiB from its Content-Length, before reading it', async () => {
    const d = sha(randomBytes(8));
    const status = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(`${farm.url}/api/v1/toolchains/${d}`, {
        method: 'PUT',
        headers: { Authorization: `Bearer ${farm.token}`, 'Content-Length': String(9 * 1024 ** 3) },
      });
      req.on('response', (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.write(Buffer.alloc(1024));
    });
    assert.equal(status.status, 413);
    assert.equal(codeOf(JSON.parse(status.body)), 'ERR_TOO_LARGE');
    const ask = await api(dev, `/api/v1/toolchains/${d}/upload`, {
      method: 'POST',
      json: { size: 9 * 1024 ** 3 },
    });
    assert.equal(ask.status, 413);
  });

  it('answers where to upload: through the gateway when the store cannot presign', async () => {
    const d = sha(randomBytes(8));
    const ask = await api(dev, `/api/v1/toolchains/${d}/upload`, { method: 'POST', json: { size: 10 } });
    assert.equal(ask.status, 200);
    assert.deepEqual(ask.body, {
      exists: false,
      upload: { method: 'PUT', url: `/api/v1/toolchains/${d}`, headers: {} },
    });
    const have = await api(dev, `/api/v1/toolchains/${tc.digest}/upload`, {
      method: 'POST',
      json: { size: 10 },
    });
    assert.deepEqual(have.body, { exists: true, size: tc.bytes.byteLength });
  });

  it('presets: create, read, list; only the owner or an admin replaces or removes one', async () => {
    const id = 'eve-cc@linux-aarch64';
    const created = await api(eve, `/api/v1/presets/${id}`, {
      method: 'PUT',
      json: { digest: tc.digest, compiler: '/usr/bin/cc' },
    });
    assert.equal(created.status, 201);
    const rec = created.body as Record<string, unknown>;
    assert.equal(rec.name, 'eve-cc');
    assert.equal(rec.platform, 'linux-aarch64');
    assert.equal(rec.size, tc.bytes.byteLength);
    assert.deepEqual(rec.owner, { sub: 'eve', tenant: 'other' });
    assert.deepEqual((await api(bob, `/api/v1/presets/${id}`)).body, rec);

    const list = await api(bob, '/api/v1/presets');
    const ids = (list.body as { presets: { name: string; platform: string }[] }).presets.map(
      (p) => `${p.name}@${p.platform}`,
    );
    assert.deepEqual(ids, ['eve-cc@linux-aarch64', 'gcc-12@linux-x86_64']);

    // Someone else, not an admin (another user of another tenant's preset): refused.
    const replace = await api(bob, `/api/v1/presets/${id}`, {
      method: 'PUT',
      json: { digest: tc.digest, compiler: '/usr/bin/other' },
    });
    assert.equal(replace.status, 403);
    assert.equal(codeOf(replace.body), 'ERR_FORBIDDEN');
    const del = await api(bob, `/api/v1/presets/${id}`, { method: 'DELETE' });
    assert.equal(del.status, 403);
    assert.equal(codeOf(del.body), 'ERR_FORBIDDEN');
    // Nor can eve touch dev's preset.
    const theirs = await api(eve, '/api/v1/presets/gcc-12@linux-x86_64', { method: 'DELETE' });
    assert.equal(theirs.status, 403);
    assert.equal((await api(eve, '/api/v1/presets/gcc-12@linux-x86_64')).status, 200);

    // The owner replaces her own preset; an admin replaces anyone's and becomes its owner.
    const mine = await api(eve, `/api/v1/presets/${id}`, {
      method: 'PUT',
      json: { digest: tc.digest, compiler: '/usr/bin/cc2' },
    });
    assert.equal(mine.status, 200);
    assert.equal((mine.body as { compiler: string }).compiler, '/usr/bin/cc2');
    const admin = await api(dev, `/api/v1/presets/${id}`, {
      method: 'PUT',
      json: { digest: tc.digest, compiler: '/usr/bin/cc3' },
    });
    assert.equal(admin.status, 200);
    assert.deepEqual((admin.body as { owner: unknown }).owner, { sub: 'dev', tenant: 'dev' });
    assert.equal((await api(eve, `/api/v1/presets/${id}`, { method: 'DELETE' })).status, 403);
    const gone = await api(dev, `/api/v1/presets/${id}`, { method: 'DELETE' });
    assert.equal(gone.status, 200);
    assert.equal((gone.body as { compiler: string }).compiler, '/usr/bin/cc3');
    assert.equal((await api(dev, `/api/v1/presets/${id}`)).status, 404);
  });

  it('presets: refuses bad names, bad compiler paths and toolchains not on the farm', async () => {
    const body = { digest: tc.digest, compiler: '/usr/bin/cc' };
    for (const id of [
      'Gcc@linux-x86_64',
      'gcc@windows-x86_64',
      'gcc',
      'a@b@linux-x86_64',
      '-x@linux-x86_64',
    ]) {
      const r = await api(dev, `/api/v1/presets/${encodeURIComponent(id)}`, { method: 'PUT', json: body });
      assert.equal(r.status, 400, id);
      assert.equal(codeOf(r.body), 'ERR_VALIDATION', id);
    }
    for (const compiler of ['usr/bin/cc', '/usr/../bin/cc', '/usr//cc', '/']) {
      const r = await api(dev, '/api/v1/presets/x@linux-x86_64', {
        method: 'PUT',
        json: { ...body, compiler },
      });
      assert.equal(r.status, 400, compiler);
    }
    const missing = sha(randomBytes(8));
    const r = await api(dev, '/api/v1/presets/x@linux-x86_64', {
      method: 'PUT',
      json: { ...body, digest: missing },
    });
    assert.equal(r.status, 409);
    assert.equal(codeOf(r.body), 'ERR_BLOBS_MISSING');
    assert.equal((await api({ url: farm.url, token: 'nope' }, '/api/v1/presets')).status, 401);
  });

  it('deletes a toolchain only for its owner or an admin, and never while a preset names it', async () => {
    const bytes = await archive('eve-only');
    const d = sha(bytes);
    assert.equal(
      (await api(eve, `/api/v1/toolchains/${d}`, { method: 'PUT', body: bytes as Uint8Array<ArrayBuffer> }))
        .status,
      201,
    );
    await api(eve, '/api/v1/presets/mine@freebsd-amd64', {
      method: 'PUT',
      json: { digest: d, compiler: '/usr/bin/cc' },
    });

    const byBob = await api(bob, `/api/v1/toolchains/${d}`, { method: 'DELETE' });
    assert.equal(byBob.status, 403);
    const inUse = await api(eve, `/api/v1/toolchains/${d}`, { method: 'DELETE' });
    assert.equal(inUse.status, 409);
    assert.equal(codeOf(inUse.body), 'ERR_CONFLICT');
    assert.deepEqual((inUse.body as { error: { presets: string[] } }).error.presets, ['mine@freebsd-amd64']);

    assert.equal((await api(eve, '/api/v1/presets/mine@freebsd-amd64', { method: 'DELETE' })).status, 200);
    assert.equal((await api(eve, `/api/v1/toolchains/${d}`, { method: 'DELETE' })).status, 204);
    assert.equal((await api(eve, `/api/v1/toolchains/${d}`, { method: 'HEAD' })).status, 404);
    assert.equal((await api(eve, `/api/v1/toolchains/${d}`, { method: 'DELETE' })).status, 404);
  });

  it('kiln toolchain ls and rm (--with-archive)', async () => {
    const ls = await cli(bob, ['toolchain', 'ls'], work);
    assert.equal(ls.code, 0, ls.stderr);
    assert.match(
      ls.stdout,
      new RegExp(`^gcc-12@linux-x86_64  ${tc.digest.slice(0, 12)} .* /usr/bin/cc  \\(dev@dev\\)$`, 'm'),
    );
    const json = await cli(bob, ['toolchain', 'ls', '--json'], work);
    const names = (JSON.parse(json.stdout) as { presets: { name: string }[] }).presets.map((p) => p.name);
    assert.ok(names.includes('gcc-12'));

    const denied = await cli(bob, ['toolchain', 'rm', 'gcc-12@linux-x86_64'], work);
    assert.equal(denied.code, 1);
    assert.match(denied.stderr, /ERR_FORBIDDEN/);
    const bad = await cli(bob, ['toolchain', 'rm', 'gcc-12'], work);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /is not a preset/);

    // Two presets share the archive: rm --with-archive keeps it while the other one needs it.
    await api(dev, '/api/v1/presets/gcc-alias@linux-x86_64', {
      method: 'PUT',
      json: { digest: tc.digest, compiler: '/usr/bin/cc' },
    });
    const kept = await cli(dev, ['toolchain', 'rm', 'gcc-alias@linux-x86_64', '--with-archive'], work);
    assert.equal(kept.code, 1);
    assert.match(kept.stderr, /kept archive .*used by gcc-12@linux-x86_64/);
    assert.equal((await api(dev, '/api/v1/presets/gcc-alias@linux-x86_64')).status, 404);

    const rmAll = await cli(
      dev,
      ['toolchain', 'rm', 'gcc-12@linux-x86_64', '--with-archive', '--json'],
      work,
    );
    assert.equal(rmAll.code, 0, rmAll.stderr);
    assert.equal((JSON.parse(rmAll.stdout) as { archiveDeleted: boolean }).archiveDeleted, true);
    assert.equal((await api(dev, `/api/v1/toolchains/${tc.digest}`, { method: 'HEAD' })).status, 404);
    const empty = await cli(dev, ['toolchain', 'ls', '--json'], work);
    const left = (JSON.parse(empty.stdout) as { presets: { name: string }[] }).presets.map((p) => p.name);
    assert.ok(!left.includes('gcc-12'));
  });

  it('push checks its arguments before touching the farm', async () => {
    const noName = await cli(
      dev,
      ['toolchain', 'push', 'gcc.tar.gz', '--platform', 'linux-x86_64', '--compiler', '/cc'],
      work,
    );
    assert.equal(noName.code, 1);
    assert.match(noName.stderr, /--name is required/);
    const relative = await cli(
      dev,
      ['toolchain', 'push', 'gcc.tar.gz', '--name', 'g', '--platform', 'linux-x86_64', '--compiler', 'cc'],
      work,
    );
    assert.equal(relative.code, 1);
    assert.match(relative.stderr, /absolute path inside the archive/);
    const noFile = await cli(
      dev,
      ['toolchain', 'push', 'nope.tgz', '--name', 'g', '--platform', 'linux-x86_64', '--compiler', '/cc'],
      work,
    );
    assert.equal(noFile.code, 1);
    assert.match(noFile.stderr, /nope.tgz is not a file/);
  });

  it('resolveToolchain: preset names, bare names, digests, other platforms', async () => {
    const redis = new Redis(farm.redis.url);
    try {
      const presets = createRedisPresetStore(redis, farm.prefix);
      const bytes = await archive('resolve');
      const d = sha(bytes);
      await api(dev, `/api/v1/toolchains/${d}`, { method: 'PUT', body: bytes as Uint8Array<ArrayBuffer> });
      await api(dev, '/api/v1/presets/cross@linux-x86_64', {
        method: 'PUT',
        json: { digest: d, compiler: '/bin/aarch64-gcc' },
      });

      const want = { digest: d, compiler: '/bin/aarch64-gcc', preset: 'cross@linux-x86_64' };
      assert.deepEqual(await resolveToolchain(presets, 'cross@linux-x86_64', 'linux-x86_64'), want);
      assert.deepEqual(await resolveToolchain(presets, 'cross', 'linux-x86_64'), want);
      assert.deepEqual(await resolveToolchain(presets, d, 'linux-x86_64'), {
        digest: d,
        compiler: null,
        preset: null,
      });
      const fail = async (
        what: string,
        platform: 'linux-x86_64' | 'freebsd-amd64',
        code: string,
        status: number,
      ) =>
        assert.rejects(resolveToolchain(presets, what, platform), (err: unknown) => {
          assert.ok(err instanceof KilnError);
          assert.equal(err.code, code, what);
          assert.equal(err.status, status);
          return true;
        });
      await fail('cross', 'freebsd-amd64', 'ERR_NOT_FOUND', 404);
      await fail('cross@linux-x86_64', 'freebsd-amd64', 'ERR_VALIDATION', 400);
      await fail('Cross!', 'linux-x86_64', 'ERR_VALIDATION', 400);
      await fail('nope@linux-x86_64', 'linux-x86_64', 'ERR_NOT_FOUND', 404);
    } finally {
      redis.disconnect();
    }
  });
});

describe('toolchain registry on S3 (presigned uploads)', { timeout: 60_000 }, () => {
  let s3: S3rverHandle;
  let farm: DevFarm;
  let work: string;

  before(async () => {
    s3 = await startS3rver();
    farm = await startDevFarm({
      port: 0,
      builders: 0,
      s3: {
        type: 's3',
        bucket: s3.bucket,
        endpoint: s3.endpoint,
        accessKeyId: s3.accessKeyId,
        secretAccessKey: s3.secretAccessKey,
        prefix: '',
        region: 'us-east-1',
      },
    });
    work = await mkdtemp(join(tmpdir(), 'kiln-tc-s3-'));
  });

  after(async () => {
    await farm?.stop();
    await s3?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('uploads straight to the store once, then 0 bytes', async () => {
    const dev = { url: farm.url, token: farm.token };
    const bytes = await archive('s3');
    const d = sha(bytes);
    await writeFile(join(work, 'tc.tgz'), bytes);
    const ask = await api(dev, `/api/v1/toolchains/${d}/upload`, {
      method: 'POST',
      json: { size: bytes.byteLength },
    });
    const url = (ask.body as { upload: { url: string } }).upload.url;
    assert.ok(url.startsWith(s3.endpoint), `presigned: ${url}`);

    const args = [
      'toolchain',
      'push',
      'tc.tgz',
      '--name',
      'gcc',
      '--platform',
      'linux-x86_64',
      '--compiler',
      '/usr/bin/cc',
      '--json',
    ];
    const first = await cli(dev, args, work);
    assert.equal(first.code, 0, first.stderr);
    assert.equal((JSON.parse(first.stdout) as { uploaded: number }).uploaded, bytes.byteLength);
    const head = await api(dev, `/api/v1/toolchains/${d}`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), String(bytes.byteLength));
    const store = createS3Store({
      bucket: s3.bucket,
      endpoint: s3.endpoint,
      credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    });
    try {
      const body = await store.get(`toolchains/${d}`);
      assert.ok(body);
      assert.equal(sha(new Uint8Array(await new Response(body).arrayBuffer())), d);
    } finally {
      store.close();
    }
    const info = await api(dev, `/api/v1/toolchains/${d}`);
    assert.deepEqual((info.body as { owner: unknown }).owner, { sub: 'dev', tenant: 'dev' });

    const again = await cli(dev, args, work);
    assert.equal((JSON.parse(again.stdout) as { uploaded: number }).uploaded, 0);
  });
});
