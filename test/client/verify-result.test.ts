/**
 * The client's result check on its own (no farm): a signature binds the result to its job, its
 * builder and every byte the client will write; a malformed block, another job's signature, a
 * changed field or another key are each refused with a coded error.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createResultSigner } from '../../builders/core/result-signer.ts';
import type { JobView } from '../../protocol/job.ts';
import { createHash } from 'node:crypto';
import {
  manifestBytes,
  manifestOf,
  RESULT_SIGNATURE_PREFIX,
  verifyResultSignature,
} from '../../protocol/result-signature.ts';
import { verifyAction, verifyJobResult, verifyOutputsTar } from '../../client/verify-result.ts';

const signer = createResultSigner();
const nodeSha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const result = {
  stdout: Buffer.from('hi\n').toString('base64'),
  stderr: '',
  files: [{ path: 'a.o', data: 'AAEC', executable: false }],
};

async function signedJob(over: Partial<JobView> = {}): Promise<JobView> {
  const job: JobView = {
    id: 'job-1',
    state: 'succeeded',
    platform: 'linux-x86_64',
    argv: ['cc'],
    attempt: 1,
    builder: 'b1-abcd',
    createdAt: '',
    startedAt: '',
    finishedAt: '',
    exitCode: 0,
    signal: null,
    error: null,
    outputs: { digest: 'f'.repeat(64), size: 3 },
    missingOutputs: ['gone.txt'],
    rejectedOutputs: [],
    logTruncated: false,
    result,
    ...over,
  };
  const sig = await signer.sign({
    job: 'job-1',
    action: null,
    builder: 'b1-abcd',
    exitCode: 0,
    signal: null,
    outputs: { digest: 'f'.repeat(64), size: 3 },
    inline: result,
    missing: ['gone.txt'],
  });
  return { ...job, signature: { ...sig, registered: true } };
}

describe('verifying a result before writing it', () => {
  it('the signed bytes are the version prefix and the canonical manifest', async () => {
    const m = await manifestOf({
      job: 'j',
      action: null,
      builder: 'b',
      key: signer.publicKey,
      exitCode: 0,
      signal: null,
      outputs: null,
      inline: null,
      missing: [],
    });
    const text = new TextDecoder().decode(manifestBytes(m));
    assert.ok(text.startsWith(RESULT_SIGNATURE_PREFIX));
    assert.equal(JSON.parse(text.slice(RESULT_SIGNATURE_PREFIX.length)).builder, 'b');
  });

  it("Web Crypto's check (the default) and the client's node:crypto one agree", async () => {
    const job = await signedJob();
    const parts = {
      job: 'job-1',
      action: null,
      builder: 'b1-abcd',
      key: signer.publicKey,
      exitCode: 0,
      signal: null,
      outputs: job.outputs,
      inline: result,
      missing: ['gone.txt'],
    };
    const good = await manifestOf(parts);
    const changed = await manifestOf({ ...parts, inline: { ...result, stdout: 'aGk=' } });
    assert.deepEqual(await manifestOf(parts, (b) => Buffer.from(b, 'base64'), nodeSha256), good);
    assert.equal(await verifyResultSignature(job.signature!, good), true);
    assert.equal(await verifyResultSignature(job.signature!, changed), false);
    // The client's path (verifyJobResult) refuses the changed bytes and accepts the genuine ones.
    await verifyJobResult(job, { action: null }, false);
    await assert.rejects(
      verifyJobResult({ ...job, result: { ...result, stdout: 'aGk=' } }, { action: null }, false),
      {
        code: 'ERR_BAD_SIGNATURE',
      },
    );
  });

  it('a genuine result passes, with and without verifySigner', async () => {
    const job = await signedJob();
    await verifyJobResult(job, { action: null }, true);
    await verifyJobResult(job, { job: 'job-1', action: null }, false);
  });

  it('any field the client uses, changed after signing, is refused', async () => {
    const job = await signedJob();
    const changes: Partial<JobView>[] = [
      { exitCode: 1 },
      { signal: 'SIGKILL' },
      { outputs: { digest: 'e'.repeat(64), size: 3 } },
      { missingOutputs: [] },
      { result: { ...result, stdout: '' } },
      { result: { ...result, files: [{ ...result.files[0]!, executable: true }] } },
      { result: { ...result, files: [{ ...result.files[0]!, path: 'b.o' }] } },
    ];
    for (const c of changes)
      await assert.rejects(
        verifyJobResult({ ...job, ...c }, { action: null }, false),
        {
          code: 'ERR_BAD_SIGNATURE',
          message: /does not match the signature of builder b1-abcd; nothing was written/,
        },
        JSON.stringify(c),
      );
    await assert.rejects(verifyJobResult(job, { action: 'a'.repeat(64) }, false), {
      code: 'ERR_BAD_SIGNATURE',
    });
  });

  it('another job’s or another builder’s signature, another key, or none: refused', async () => {
    const job = await signedJob();
    await assert.rejects(verifyJobResult({ ...job, id: 'job-2' }, { action: null }, false), {
      code: 'ERR_BAD_SIGNATURE',
      message: /signed for another job \(job-1\)/,
    });
    await assert.rejects(verifyJobResult({ ...job, builder: 'b2-0000' }, { action: null }, false), {
      code: 'ERR_BAD_SIGNATURE',
    });
    const other = createResultSigner();
    await assert.rejects(
      verifyJobResult(
        { ...job, signature: { ...job.signature!, key: other.publicKey } },
        { action: null },
        false,
      ),
      { code: 'ERR_BAD_SIGNATURE' },
    );
    await assert.rejects(
      verifyJobResult({ ...job, signature: { ...job.signature!, sig: 'x' } }, { action: null }, false),
      { code: 'ERR_BAD_SIGNATURE' },
    );
    const { signature: _, ...unsigned } = job;
    await assert.rejects(verifyJobResult(unsigned, { action: null }, false), {
      code: 'ERR_BAD_SIGNATURE',
      message: /carries no builder signature/,
    });
    // A job no builder finished (stopped while queued) has nothing to sign.
    await verifyJobResult(
      {
        ...unsigned,
        state: 'killed',
        exitCode: null,
        outputs: null,
        result: undefined as never,
        missingOutputs: [],
      },
      { action: null },
      true,
    );
  });

  it('verifySigner refuses a valid signature whose key is not registered', async () => {
    const job = await signedJob();
    const unknown = { ...job, signature: { ...job.signature!, registered: false } };
    await verifyJobResult(unknown, { action: null }, false);
    await assert.rejects(verifyJobResult(unknown, { action: null }, true), {
      code: 'ERR_UNKNOWN_SIGNER',
      message: /not a registered builder's \(builder b1-abcd\); nothing was written/,
    });
  });

  it('a cached action is bound to the action asked for', async () => {
    const action = 'c'.repeat(64);
    const sig = await signer.sign({
      job: 'job-9',
      action,
      builder: 'b1-abcd',
      exitCode: 0,
      signal: null,
      outputs: null,
      inline: result,
      missing: [],
    });
    const entry = {
      exitCode: 0,
      ...result,
      missing: [],
      createdAt: '',
      signature: { ...sig, registered: true },
    };
    await verifyAction(entry, action, true);
    await assert.rejects(verifyAction(entry, 'd'.repeat(64), false), { code: 'ERR_BAD_SIGNATURE' });
  });

  it('a downloaded tar must hash to the signed digest and size', async () => {
    const tar = new Uint8Array([1, 2, 3]);
    const digest = Buffer.from(await crypto.subtle.digest('SHA-256', tar)).toString('hex');
    const job = await signedJob();
    await verifyOutputsTar(job, tar, { digest, size: 3 });
    await assert.rejects(verifyOutputsTar(job, new Uint8Array([1, 2, 4]), { digest, size: 3 }), {
      code: 'ERR_BAD_SIGNATURE',
      message: /not the bytes its builder signed/,
    });
  });
});
