/**
 * API cases of the binary job body (protocol/job-body.ts, docs/api.md): a good one is stored with
 * its files as bytes (Redis `inlineData`) and gives the action key of the same job sent as JSON;
 * truncated, over-long, oversized and mismatched ones are refused whole (4xx with a code, nothing
 * stored). No builder runs; run in-process (validation.test.ts) and on the Deno gateway.
 */
import { before, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { ApiGateway } from '../helpers/api-gateway.ts';
import { codeOf } from '../helpers/http.ts';
import { encodeJobBody, JOB_BODY_TYPE } from '../../protocol/job-body.ts';
import { redisKeys } from '../../protocol/keys.ts';
import { createRedisBuilderFarm } from '../../redis/builder-farm.ts';
import { VALIDATION_LIMITS } from './validation.cases.ts';
import { scanAll } from '../helpers/redis-mode.ts';

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** Files that JSON could not carry as text: NUL, 0xff, an invalid UTF-8 sequence; an empty one; an executable. */
const FILES = [
  { path: 'src/main.i', data: Buffer.from('int main(void) { return 0; }\n') },
  { path: 'bin.dat', data: Buffer.from([0, 255, 0xc3, 0x28, 10, 0]) },
  { path: 'empty', data: Buffer.alloc(0) },
  { path: 'run.sh', data: Buffer.from('#!/bin/sh\necho hi\n'), executable: true },
];
const SPEC = { argv: ['cc', '-c', 'src/main.i'], outputs: ['main.o'], cache: true, inlineResult: true };

const framed = (spec: Record<string, unknown>, files = FILES): Buffer =>
  Buffer.concat(
    encodeJobBody(
      spec,
      files.map((f) => ({ ...f, digest: sha(f.data) })),
    ),
  );

/** Registers the cases (inside a `describe` that set up `g` with {@link VALIDATION_LIMITS}). */
export function jobBodyCases(g: ApiGateway): void {
  before(async () => {
    await g.addBuilder({ slots: 16 });
  });
  const post = (body: Uint8Array, type = JOB_BODY_TYPE) =>
    g.api('/api/v1/jobs', {
      method: 'POST',
      body: body as Uint8Array<ArrayBuffer>,
      headers: { 'Content-Type': type },
    });
  const jobKeys = async (): Promise<string[]> =>
    (await scanAll(g.redis(), `${g.prefix}:{job:*`)).filter((k) => !k.endsWith(':log')).sort();

  /** Refused with `status` and `code`, and nothing of a job written. */
  const refused = async (body: Uint8Array, status: number, code: string, what: string): Promise<void> => {
    const inFlight = () => g.redis().zcard(redisKeys(g.prefix).tenantInFlight('dev'));
    const before = await jobKeys();
    const flying = await inFlight();
    const r = await post(body);
    assert.equal(r.status, status, `${what}: ${r.text}`);
    assert.equal(codeOf(r.body), code, what);
    assert.equal(typeof (r.body as { error: { message: unknown } }).error.message, 'string');
    assert.deepEqual(await jobKeys(), before, `${what}: nothing stored`);
    assert.equal(await inFlight(), flying, `${what}: no job admitted`);
  };

  it('stores a binary body with its files as bytes, and keys it like the same job as JSON', async () => {
    const r = await post(framed(SPEC));
    assert.equal(r.status, 201, r.text);
    const created = r.body as { job: { id: string; state: string }; action: string };
    assert.equal(created.job.state, 'queued');
    const key = redisKeys(g.prefix).job(created.job.id);
    const stored = await g.redis().hgetBuffer(key, 'inlineData');
    assert.deepEqual(stored, Buffer.concat(FILES.map((f) => f.data)), 'the bytes, one after the other');
    const spec = JSON.parse((await g.redis().hget(key, 'spec')) ?? '{}') as Record<string, unknown>;
    assert.equal(spec.inline, undefined, 'the spec field holds no file');
    const builder = createRedisBuilderFarm({ redis: g.redis(), pull: g.redis(), sub: g.redis() }, g.prefix);
    const rec = await builder.readJob(created.job.id);
    assert.deepEqual(
      rec?.spec.inline?.map((f) => [f.path, Buffer.from(f.data).toString('hex'), f.executable]),
      FILES.map((f) => [f.path, f.data.toString('hex'), f.executable === true]),
    );
    // The same job as JSON (base64): the same action key, so either body finds the other's result.
    const inline = FILES.map((f) => ({
      path: f.path,
      data: f.data.toString('base64'),
      ...(f.executable ? { executable: true } : {}),
    }));
    const asJson = await g.api('/api/v1/jobs', { method: 'POST', json: { ...SPEC, inline } });
    assert.equal(asJson.status, 201, asJson.text);
    assert.equal((asJson.body as { action: string }).action, created.action);
    const jsonKey = redisKeys(g.prefix).job((asJson.body as { job: { id: string } }).job.id);
    assert.deepEqual(await g.redis().hgetBuffer(jsonKey, 'inlineData'), stored);
    // Without inline files the body is the header and the spec alone.
    const bare = await post(framed({ argv: ['true'] }, []));
    assert.equal(bare.status, 201, bare.text);
    for (const id of [created.job.id, (asJson.body as { job: { id: string } }).job.id])
      await g.api(`/api/v1/jobs/${id}/cancel`, { method: 'POST' });
  });

  it('refuses a truncated or over-long body whole', async () => {
    const good = framed(SPEC);
    await refused(good.subarray(0, 3), 400, 'ERR_BAD_REQUEST', 'shorter than its header');
    await refused(good.subarray(0, 40), 400, 'ERR_BAD_REQUEST', 'cut inside the spec');
    await refused(good.subarray(0, good.length - 1), 400, 'ERR_BAD_REQUEST', 'last file one byte short');
    await refused(Buffer.concat([good, Buffer.from('x')]), 400, 'ERR_BAD_REQUEST', 'a byte left over');
    await refused(
      Buffer.concat([framed({ argv: ['true'] }, []), Buffer.from('x')]),
      400,
      'ERR_BAD_REQUEST',
      'bytes after a spec without files',
    );
  });

  it('refuses a file whose bytes are not the ones its digest names', async () => {
    const files = FILES.map((f) => ({ ...f, digest: sha(f.data) }));
    files[1] = { ...files[1]!, digest: sha(Buffer.from('something else')) };
    await refused(Buffer.concat(encodeJobBody(SPEC, files)), 400, 'ERR_DIGEST_MISMATCH', 'wrong digest');
    // Same total length, two files' bytes swapped across their boundary.
    const swapped = Buffer.from(framed(SPEC, FILES.slice(0, 2)));
    const at = swapped.length - FILES[1]!.data.length;
    [swapped[at - 1], swapped[at]] = [swapped[at]!, swapped[at - 1]!];
    await refused(swapped, 400, 'ERR_DIGEST_MISMATCH', 'bytes moved between files');
  });

  it('refuses a malformed spec, an oversized body and more than 64 files', async () => {
    const json = Buffer.from('{"argv": [');
    const head = Buffer.alloc(4);
    head.writeUInt32BE(json.length);
    await refused(Buffer.concat([head, json]), 400, 'ERR_BAD_JSON', 'malformed JSON');
    const withData = Buffer.concat(
      encodeJobBody({ argv: ['true'] }, [
        { path: 'a', data: Buffer.from('a'), digest: sha(Buffer.from('a')) },
      ]),
    );
    const spec = JSON.parse(withData.subarray(4, 4 + withData.readUInt32BE(0)).toString()) as {
      inline: Record<string, unknown>[];
    };
    spec.inline[0]!.data = 'YQ==';
    const body = Buffer.from(JSON.stringify(spec));
    head.writeUInt32BE(body.length);
    await refused(Buffer.concat([head, body, Buffer.from('a')]), 400, 'ERR_VALIDATION', 'an entry with data');
    const escape = [{ path: '../x', data: Buffer.from('x') }];
    await refused(framed({ argv: ['true'] }, escape), 400, 'ERR_VALIDATION', 'a path out of the job');
    const big = [{ path: 'big.i', data: Buffer.alloc(VALIDATION_LIMITS.maxJsonBytes, 1) }];
    await refused(framed({ argv: ['true'] }, big), 413, 'ERR_TOO_LARGE', 'over limits.maxJsonBytes');
    const many = Array.from({ length: 65 }, (_, i) => ({ path: `f${i}`, data: Buffer.from([i]) }));
    await refused(framed({ argv: ['true'] }, many), 400, 'ERR_VALIDATION', '65 files');
  });
}
