/**
 * API cases about what a request may be: job-spec validation, body limits, blob digests and
 * sizes, tenant-scoped blobs, unknown routes. None needs a builder; run in-process
 * (validation.test.ts) and on the Deno gateway (deno.test.ts).
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import type { ApiGateway, Ask } from '../helpers/api-gateway.ts';
import { TOKENS } from '../helpers/api-gateway.ts';
import { codeOf } from '../helpers/http.ts';

/** The limits these cases assume (pass them to useApiGateway). */
export const VALIDATION_LIMITS = { maxJsonBytes: 64 * 1024, maxInlineBlobBytes: 4096 };

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** Registers the cases (call inside a `describe` that set up `g` with {@link VALIDATION_LIMITS}). */
export function validationCases(g: ApiGateway): void {
  const expectError = async (path: string, init: Ask, status: number, code: string): Promise<void> => {
    const r = await g.api(path, init);
    assert.equal(r.status, status, `${init.method ?? 'GET'} ${path}: ${JSON.stringify(r.body)}`);
    assert.equal(codeOf(r.body), code);
    const message = (r.body as { error: { message: unknown } }).error.message;
    assert.equal(typeof message, 'string', 'every error says what is wrong');
  };

  it('refuses a malformed job spec with 400 and a code', async () => {
    const post = (init: Ask, status: number, code: string) =>
      expectError('/api/v1/jobs', { method: 'POST', ...init }, status, code);
    await post({ body: '{"argv": [', headers: { 'Content-Type': 'application/json' } }, 400, 'ERR_BAD_JSON');
    await post(
      { body: '{"argv": ["true"]}', headers: { 'Content-Type': 'text/plain' } },
      400,
      'ERR_BAD_REQUEST',
    );
    await post({ json: { argv: ['true'], colour: 'blue' } }, 400, 'ERR_VALIDATION');
    await post({ json: { argv: 'true' } }, 400, 'ERR_VALIDATION');
    await post({ json: { argv: [] } }, 400, 'ERR_VALIDATION');
    await post({ json: { argv: ['true'], limits: { timeoutSec: 'soon' } } }, 400, 'ERR_VALIDATION');
    await post({ json: { argv: ['true'], outputs: ['../etc/passwd'] } }, 400, 'ERR_VALIDATION');
    await post({ json: { argv: ['true'], platform: 'windows-x86' } }, 400, 'ERR_VALIDATION');
    await expectError(
      '/api/v1/jobs?wait=-1',
      { method: 'POST', json: { argv: ['true'] } },
      400,
      'ERR_VALIDATION',
    );
  });

  it('refuses a JSON body over the limit with 413', async () => {
    const pad = 'y'.repeat(VALIDATION_LIMITS.maxJsonBytes + 1);
    await expectError(
      '/api/v1/jobs',
      { method: 'POST', json: { argv: ['true'], env: { PAD: pad } } },
      413,
      'ERR_TOO_LARGE',
    );
    await expectError(
      '/api/v1/blobs/missing',
      { method: 'POST', json: { blobs: [], pad } },
      413,
      'ERR_TOO_LARGE',
    );
  });

  it('refuses a job whose input is not uploaded yet, naming the missing blob', async () => {
    const digest = 'a'.repeat(64);
    const r = await g.api('/api/v1/jobs', {
      method: 'POST',
      json: { argv: ['true'], input: { digest, size: 1 } },
    });
    assert.equal(r.status, 409);
    assert.equal(codeOf(r.body), 'ERR_BLOBS_MISSING');
    assert.match(JSON.stringify(r.body), new RegExp(digest));
  });

  it('checks blob digests and sizes; a tenant sees only its own blobs', async () => {
    const bytes = new Uint8Array(randomBytes(1000));
    const d = sha(bytes);
    await expectError(
      `/api/v1/blobs/${'0'.repeat(64)}`,
      { method: 'PUT', body: bytes },
      400,
      'ERR_DIGEST_MISMATCH',
    );
    await expectError('/api/v1/blobs/not-hex', { method: 'PUT', body: bytes }, 400, 'ERR_VALIDATION');
    const big = new Uint8Array(VALIDATION_LIMITS.maxInlineBlobBytes + 1);
    await expectError(`/api/v1/blobs/${sha(big)}`, { method: 'PUT', body: big }, 413, 'ERR_TOO_LARGE');
    const ask = (token?: string) =>
      g.api('/api/v1/blobs/missing', { method: 'POST', json: { blobs: [{ digest: d, size: 1000 }] }, token });
    assert.deepEqual(((await ask()).body as { missing: string[] }).missing, [d]);
    await expectError(`/api/v1/blobs/${d}`, {}, 404, 'ERR_NOT_FOUND');
    const put = await g.api(`/api/v1/blobs/${d}`, { method: 'PUT', body: bytes });
    assert.equal(put.status, 201);
    assert.deepEqual(put.body, { digest: d, size: 1000 });
    assert.deepEqual(((await ask()).body as { missing: string[] }).missing, []);
    const back = await g.api(`/api/v1/blobs/${d}`);
    assert.equal(back.status, 200);
    assert.equal(back.headers.get('content-length'), '1000');
    assert.deepEqual(((await ask(TOKENS.other)).body as { missing: string[] }).missing, [d], 'not theirs');
    await expectError(`/api/v1/blobs/${d}`, { token: TOKENS.other }, 404, 'ERR_NOT_FOUND');
  });

  it('answers unknown routes and unknown jobs with 404 and a code', async () => {
    await expectError('/api/v1/nothing-here', {}, 404, 'ERR_NOT_FOUND');
    await expectError('/api/v1/jobs/no-such-job', {}, 404, 'ERR_JOB_NOT_FOUND');
    await expectError('/api/v1/jobs/no-such-job/logs', {}, 404, 'ERR_JOB_NOT_FOUND');
    await expectError('/api/v1/jobs/no-such-job/cancel', { method: 'POST' }, 404, 'ERR_JOB_NOT_FOUND');
  });
}
