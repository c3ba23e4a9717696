/**
 * The builder's result signer: its manifests (hashed with node:crypto) are the ones Web Crypto's
 * default makes, every signature it hands out verifies, and one handed out again for the same
 * manifest (a cacheable job's cache entry and result) is that manifest's, never the last one's.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createResultSigner } from '../../builders/core/result-signer.ts';
import { manifestOf, verifyResultSignature, type ResultParts } from '../../protocol/result-signature.ts';

const parts = (stdout: string): Omit<ResultParts, 'key'> => ({
  job: 'job-1',
  action: 'a'.repeat(64),
  builder: 'b1-abcd',
  exitCode: 0,
  signal: null,
  outputs: null,
  inline: {
    stdout: Buffer.from(stdout).toString('base64'),
    stderr: '',
    files: [{ path: 'a.o', data: Buffer.from([0, 1, 2, 255]).toString('base64'), executable: false }],
  },
  missing: [],
});

describe('builder result signer', () => {
  it('signs what Web Crypto hashes; the same manifest twice gets its own signature again', async () => {
    const signer = createResultSigner();
    const check = async (p: Omit<ResultParts, 'key'>, sig: Awaited<ReturnType<typeof signer.sign>>) =>
      verifyResultSignature(sig, await manifestOf({ ...p, key: signer.publicKey }));
    const a = await signer.sign(parts('hi\n'));
    const again = await signer.sign(parts('hi\n'));
    assert.deepEqual(again, a);
    assert.equal(await check(parts('hi\n'), again), true);
    const b = await signer.sign(parts('other\n'));
    assert.notEqual(b.sig, a.sig);
    assert.equal(await check(parts('other\n'), b), true);
    assert.equal(await check(parts('hi\n'), b), false, "another manifest's signature is refused");
    // Back to the first manifest after another one: signed again, still its own.
    const third = await signer.sign(parts('hi\n'));
    assert.equal(third.sig, a.sig);
    assert.equal(await check(parts('hi\n'), third), true);
  });
});
