/**
 * Signed results end to end, against a real farm (redis-server, s3rver as the store, bwrap
 * builders): a normal result verifies; an output tar or a cache entry changed in the store after
 * the builder wrote it is refused by `kiln run` and `kiln cc` with nothing written; a cache entry
 * forged with a fresh key passes the signature check alone (what the signature without a known
 * signer can prove) and is refused with --verify-signer; a builder whose key was never registered
 * has its results refused with --verify-signer.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDevFarm, type DevFarm } from '../../wiring/dev-farm.ts';
import { createS3Store, type S3BlobStore } from '../../storage/s3.ts';
import { createResultSigner } from '../../builders/core/result-signer.ts';
import type { ActionResult } from '../../protocol/action.ts';
import type { JobView } from '../../protocol/job.ts';
import { kiln } from '../helpers/cli.ts';
import { chmod } from 'node:fs/promises';
import { startAgent, type Agent } from '../../builders/core/agent.ts';
import { createBwrapRunner } from '../../builders/linux/bwrap-runner.ts';
import type { BuilderFarm } from '../../protocol/builder-port.ts';
import { createRedisBuilderFarm } from '../../redis/builder-farm.ts';
import { connectRedis } from '../../redis/connect.ts';
import { openStore } from '../../wiring/store.ts';
import type { Redis } from 'ioredis';

/**
 * A double around the real Redis builder port: it registers the builder without its signing key,
 * as a builder whose key the farm never learnt (its results are signed by an unknown key).
 */
function withoutSigningKey(farm: BuilderFarm): BuilderFarm {
  return {
    ...farm,
    register: ({ signingKey: _, ...info }, key, leaseMs) => farm.register(info, key, leaseMs),
    renew: ({ signingKey: _, ...info }, leaseMs) => farm.renew(info, leaseMs),
  };
}
import { s3Storage, startS3rver, type S3rverHandle } from '../helpers/s3rver.ts';

async function text(store: S3BlobStore, key: string): Promise<string> {
  return new Response(await store.get(key)).text();
}

async function keysUnder(store: S3BlobStore, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const o of store.list(prefix)) out.push(o.key);
  return out.sort();
}

describe('signed results', { timeout: 300_000 }, () => {
  let s3: S3rverHandle;
  let farm: DevFarm;
  let store: S3BlobStore;
  let work: string;
  let opts: { url: string; token: string; cwd: string; env: NodeJS.ProcessEnv };

  before(async () => {
    s3 = await startS3rver();
    farm = await startDevFarm({ builders: 1, slots: 2, port: 0, s3: s3Storage(s3) });
    store = createS3Store({
      bucket: s3.bucket,
      endpoint: s3.endpoint,
      credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    });
    work = await mkdtemp(join(tmpdir(), 'kiln-signed-'));
    await mkdir(join(work, 'src'));
    await writeFile(join(work, 'src', 'in.txt'), 'input\n');
    await writeFile(join(work, 'a.c'), 'int a(void) { return 42; }\n');
    opts = {
      url: farm.url,
      token: farm.token,
      cwd: work,
      env: {
        KILN_STATS_FILE: join(work, 'stats.json'),
        KILN_CC_MANIFESTS: join(work, 'manifests'),
        KILN_CC_SOCKET: join(work, 'cc.sock'),
      },
    };
  });
  after(async () => {
    store?.close();
    await farm?.stop();
    await s3?.stop();
    await rm(work, { recursive: true, force: true });
  });

  const run = (cmd: string, extra: string[] = []) =>
    kiln(
      [
        'run',
        '--input',
        'src',
        '--output',
        'out.txt',
        '--output-dir',
        'out',
        '--json',
        ...extra,
        '--',
        'sh',
        '-c',
        cmd,
      ],
      opts,
    );
  const staging = async (): Promise<string[]> =>
    (await readdir(join(work, 'out')).catch(() => [])).filter((f) => f.startsWith('.kiln-'));

  it('a normal job verifies: its signature is its builder’s registered key', async () => {
    const r = await run('echo signed > out.txt', ['--verify-signer']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await readFile(join(work, 'out', 'out.txt'), 'utf8'), 'signed\n');
    const job = JSON.parse(r.stdout) as JobView;
    assert.ok(job.signature, 'the job view carries the signature');
    assert.equal(job.signature.registered, true);
    assert.equal(job.signature.builder, job.builder);
    const res = await fetch(`${farm.url}/api/v1/signers`, {
      headers: { Authorization: `Bearer ${farm.token}` },
    });
    const { signers } = (await res.json()) as { signers: { builder: string; key: string; live: boolean }[] };
    assert.deepEqual(
      signers.map((s) => [s.builder, s.key, s.live]),
      [[job.builder, job.signature.key, true]],
    );
    assert.equal((await fetch(`${farm.url}/api/v1/signers`)).status, 401);
  });

  it('an output tar changed in the store is refused by kiln run: nothing written', async () => {
    const cmd = 'echo original > out.txt';
    const first = await run(cmd);
    assert.equal(first.code, 0, first.stderr);
    const { outputs } = JSON.parse(first.stdout) as JobView;
    assert.ok(outputs);
    // The same job again makes the same (deterministic) tar, which the builder finds in the
    // store and does not upload again: the client then gets what the store holds now.
    await store.put(`blobs/dev/${outputs.digest}`, new TextEncoder().encode('not the builder’s tar'));
    await rm(join(work, 'out'), { recursive: true });
    const r = await run(cmd);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /outputs of job \S+ are not the bytes its builder signed.*nothing was written/);
    await assert.rejects(readFile(join(work, 'out', 'out.txt')), { code: 'ENOENT' });
    assert.deepEqual(await staging(), [], 'no half-written staging directory');
  });

  describe('a builder whose signing key is not registered', () => {
    let agent: Agent;
    let conns: Redis[];
    before(async () => {
      conns = await Promise.all(['r', 'p', 's'].map(() => connectRedis({ url: farm.redis.url, name: 't' })));
      const workDir = await mkdtemp(join(tmpdir(), 'kiln-unreg-'));
      await chmod(workDir, 0o711);
      const port = createRedisBuilderFarm({ redis: conns[0]!, pull: conns[1]!, sub: conns[2]! }, farm.prefix);
      // Its own platform, so it is the only builder these jobs can be placed on.
      agent = await startAgent({
        farm: withoutSigningKey(port),
        store: openStore(farm.storage),
        runner: createBwrapRunner({ cgroupParent: 'kiln', log: () => undefined }),
        name: 'unregistered',
        platform: 'linux-aarch64',
        slots: 1,
        workDir,
        leaseMs: 10_000,
        version: 'test',
        log: () => undefined,
      });
    });
    after(async () => {
      await agent?.stop();
      for (const c of conns ?? []) c.disconnect();
    });

    it('kiln run accepts its result (signature checked against its key); --verify-signer refuses it', async () => {
      const cmd = 'echo unknown-signer > out.txt';
      await rm(join(work, 'out'), { recursive: true, force: true });
      const lax = await run(cmd, ['--platform', 'linux-aarch64']);
      assert.equal(lax.code, 0, lax.stderr);
      const job = JSON.parse(lax.stdout) as JobView;
      assert.equal(job.signature?.registered, false);
      assert.equal(await readFile(join(work, 'out', 'out.txt'), 'utf8'), 'unknown-signer\n');
      await rm(join(work, 'out'), { recursive: true });
      const strict = await run(cmd, ['--platform', 'linux-aarch64', '--verify-signer']);
      assert.equal(strict.code, 1);
      assert.match(
        strict.stderr,
        /result of job \S+ is signed by a key that is not a registered builder's \(builder unregistered-[0-9a-f]+\); nothing was written/,
      );
      await assert.rejects(readFile(join(work, 'out', 'out.txt')), { code: 'ENOENT' });
      assert.deepEqual(await staging(), []);
    });
  });

  describe('kiln cc and the action cache', () => {
    let entryKey: string;
    let genuine: ActionResult;
    // The farm's answers are under test: no result kept on this machine answers instead.
    const cc = (env: NodeJS.ProcessEnv = {}) =>
      kiln(['cc', '/usr/bin/gcc', '-O2', '-c', 'a.c', '-o', 'a.o'], {
        ...opts,
        env: { ...opts.env, KILN_CC_RESULTS_MB: '0', ...env },
      });
    const noObject = async (): Promise<void> => {
      await assert.rejects(readFile(join(work, 'a.o')), { code: 'ENOENT' }, 'no object written');
      assert.deepEqual(
        (await readdir(work)).filter((f) => f.includes('.kiln-')),
        [],
        'no temporary object left',
      );
    };

    before(async () => {
      const r = await cc();
      assert.equal(r.code, 0, r.stderr);
      const keys = await keysUnder(store, 'ac/');
      assert.equal(keys.length, 1, `one cache entry: ${keys.join(' ')}`);
      entryKey = keys[0]!;
      genuine = JSON.parse(await text(store, entryKey)) as ActionResult;
      assert.ok(genuine.signature, 'the builder signed the entry');
    });

    it('a cache entry changed in the store is refused (direct mode and a cache hit): no object', async () => {
      const changed: ActionResult = {
        ...genuine,
        files: genuine.files.map((f) => ({ ...f, data: Buffer.from('changed object').toString('base64') })),
      };
      await store.put(entryKey, new TextEncoder().encode(JSON.stringify(changed)));
      await rm(join(work, 'a.o'));
      const direct = await cc();
      assert.equal(direct.code, 1, direct.stderr);
      assert.match(direct.stderr, /cached result of action [0-9a-f]{64} does not match the signature/);
      await noObject();
      // Without the remembered manifest: the job creation answers from the cache.
      const hit = await cc({ KILN_CC_MANIFESTS: join(work, 'manifests-fresh') });
      assert.equal(hit.code, 1, hit.stderr);
      assert.match(hit.stderr, /does not match the signature of builder \S+; nothing was written/);
      await noObject();
    });

    it('an entry forged with a fresh key passes alone, and is refused with verifySigner', async () => {
      const forger = createResultSigner();
      const forged = Buffer.from('forged object');
      const files = genuine.files.map((f) => ({ ...f, data: forged.toString('base64') }));
      const signature = await forger.sign({
        job: genuine.signature!.job,
        action: entryKey.split('/').pop()!,
        builder: genuine.signature!.builder,
        exitCode: 0,
        signal: null,
        outputs: null,
        inline: { stdout: genuine.stdout, stderr: genuine.stderr, files },
        missing: genuine.missing,
      });
      await store.put(entryKey, new TextEncoder().encode(JSON.stringify({ ...genuine, files, signature })));
      const strict = await cc({ KILN_VERIFY_SIGNER: '1' });
      assert.equal(strict.code, 1, strict.stderr);
      assert.match(strict.stderr, /signed by a key that is not a registered builder's.*nothing was written/);
      await noObject();
      // The same in kiln.toml.
      await writeFile(join(work, 'kiln.toml'), 'verifySigner = true\n');
      const fromToml = await cc();
      await rm(join(work, 'kiln.toml'));
      assert.equal(fromToml.code, 1, fromToml.stderr);
      await noObject();
      // Without it, only the signature against the key that came with it is checked: it holds.
      const lax = await cc();
      assert.equal(lax.code, 0, lax.stderr);
      assert.deepEqual(await readFile(join(work, 'a.o')), forged);
      // The genuine entry back: accepted with verifySigner, the builder's object again.
      await store.put(entryKey, new TextEncoder().encode(JSON.stringify(genuine)));
      await rm(join(work, 'a.o'));
      const back = await cc({ KILN_VERIFY_SIGNER: '1' });
      assert.equal(back.code, 0, back.stderr);
      assert.deepEqual(await readFile(join(work, 'a.o')), Buffer.from(genuine.files[0]!.data, 'base64'));
    });

    it('an entry without a signature (older than signed results, or stripped) is a miss: run again, signed again', async () => {
      const { signature: _, ...unsigned } = genuine;
      await store.put(entryKey, new TextEncoder().encode(JSON.stringify(unsigned)));
      await rm(join(work, 'a.o'));
      const r = await cc({ KILN_VERIFY_SIGNER: '1' });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(await readFile(join(work, 'a.o')), Buffer.from(genuine.files[0]!.data, 'base64'));
      const rewritten = JSON.parse(await text(store, entryKey)) as ActionResult;
      assert.ok(rewritten.signature, 'the builder wrote a signed entry again');
      assert.notEqual(rewritten.signature.job, genuine.signature!.job, 'by a new job');
    });

    it('after its builder has left, a result it signed still passes --verify-signer (its key is kept)', async () => {
      const entry = JSON.parse(await text(store, entryKey)) as ActionResult;
      const child = farm.builders[0]!;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM'); // a drain: its lease has ended when it exits
      await exited;
      const headers = { Authorization: `Bearer ${farm.token}` };
      const { signers } = (await (await fetch(`${farm.url}/api/v1/signers`, { headers })).json()) as {
        signers: { builder: string; live: boolean }[];
      };
      assert.deepEqual(
        signers.filter((s) => s.builder === entry.signature!.builder).map((s) => s.live),
        [false],
        'still listed, no longer live',
      );
      await rm(join(work, 'a.o'));
      const r = await cc({ KILN_VERIFY_SIGNER: '1' });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(await readFile(join(work, 'a.o')), Buffer.from(entry.files[0]!.data, 'base64'));
    });
  });
});
