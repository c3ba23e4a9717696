/**
 * The client's check of a result before it writes any of it: the builder's Ed25519 signature over
 * the result's manifest (protocol/result-signature.ts), bound to the job (or, for a cache hit, the
 * action) this client asked for; with `verifySigner`, also that the key is a registered builder's.
 * A downloaded outputs tar must then hash to the digest the signature covers. Every refusal is a
 * FarmError (ERR_BAD_SIGNATURE or ERR_UNKNOWN_SIGNER) whose message says what to do.
 */
import { createHash, createPublicKey, verify, type KeyObject } from 'node:crypto';
import type { ActionResultView } from '../protocol/action.ts';
import type { BlobRef, JobView } from '../protocol/job.ts';
import { sha256Hex } from '../protocol/digest.ts';
import { manifestOf, verifyResultSignature, type SignatureView } from '../protocol/result-signature.ts';
import { FarmError } from './errors.ts';

const NOTHING = 'nothing was written';
const TELL =
  'the result was changed after its builder wrote it (in the store, the cache, or between them and the gateway): tell the farm admin';

/** What the result must be bound to: the job id this client follows, and the action key it asked for (null: none). */
export interface Expected {
  /** The job id, for a result of a job this client created (not for cache hits). */
  job?: string;
  action: string | null;
}

/** Checks the signer's key against the registry when asked to. */
function checkSigner(sig: SignatureView, what: string, verifySigner: boolean): void {
  if (verifySigner && sig.registered !== true) {
    throw new FarmError(
      'ERR_UNKNOWN_SIGNER',
      `${what} is signed by a key that is not a registered builder's (builder ${sig.builder}); ${NOTHING}. ` +
        'Without --verify-signer the signature is checked only against the key that came with it',
    );
  }
}

const nodeSha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** Public keys by their base64url form (a farm has few builders; bounded anyway). */
const keys = new Map<string, KeyObject>();

/** node:crypto's Ed25519 check: synchronous, no Web Crypto job (a direct-mode hit checks one per compile). */
function nodeVerify(key: string, sig: Uint8Array, data: Uint8Array): boolean {
  let k = keys.get(key);
  if (!k) {
    if (keys.size >= 1000) keys.clear();
    k = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: key }, format: 'jwk' });
    keys.set(key, k);
  }
  return verify(null, data, k, sig);
}

async function check(
  what: string,
  sig: SignatureView | undefined,
  parts: Parameters<typeof manifestOf>[0] | null,
  verifySigner: boolean,
): Promise<void> {
  if (!sig || !parts) {
    throw new FarmError('ERR_BAD_SIGNATURE', `${what} carries no builder signature; ${NOTHING}`);
  }
  const m = await manifestOf(parts, (s) => Buffer.from(s, 'base64'), nodeSha256);
  if (!(await verifyResultSignature(sig, m, nodeVerify))) {
    throw new FarmError(
      'ERR_BAD_SIGNATURE',
      `${what} does not match the signature of builder ${sig.builder}; ${NOTHING}: ${TELL}`,
    );
  }
  checkSigner(sig, what, verifySigner);
}

/**
 * Checks a finished job view (or a cached one) before anything of it is used. A job that no builder
 * finished (stopped while queued, lost) carries neither outputs nor signature and passes.
 */
export async function verifyJobResult(job: JobView, expect: Expected, verifySigner: boolean): Promise<void> {
  const written = job.exitCode !== null || job.signal !== null || job.outputs !== null || job.result;
  if (!written && !job.signature) return;
  const sig = job.signature;
  const what =
    job.state === 'cached' ? `the cached result of action ${expect.action}` : `the result of job ${job.id}`;
  const bound =
    sig !== undefined &&
    (job.state === 'cached' ? expect.action !== null : sig.job === (expect.job ?? job.id)) &&
    (job.state === 'cached' || job.builder === null || job.builder === sig.builder);
  if (sig && !bound)
    throw new FarmError(
      'ERR_BAD_SIGNATURE',
      `${what} is signed for another job (${sig.job}); ${NOTHING}: ${TELL}`,
    );
  await check(
    what,
    sig,
    sig
      ? {
          job: sig.job,
          action: expect.action,
          builder: sig.builder,
          key: sig.key,
          exitCode: job.exitCode,
          signal: job.signal,
          outputs: job.outputs,
          inline: job.result ?? null,
          missing: job.missingOutputs,
        }
      : null,
    verifySigner,
  );
}

/** Checks a cached action answered by `GET /api/v1/actions/{key}` (kiln cc's direct mode). */
export async function verifyAction(
  result: ActionResultView,
  action: string,
  verifySigner: boolean,
): Promise<void> {
  const sig = result.signature;
  await check(
    `the cached result of action ${action}`,
    sig,
    sig
      ? {
          job: sig.job,
          action,
          builder: sig.builder,
          key: sig.key,
          exitCode: result.exitCode,
          signal: null,
          outputs: null,
          inline: result,
          missing: result.missing,
        }
      : null,
    verifySigner,
  );
}

/** Checks a downloaded outputs tar against the (signed) digest and size of the job's outputs. */
export async function verifyOutputsTar(job: JobView, tar: Uint8Array, ref: BlobRef): Promise<void> {
  if (tar.byteLength !== ref.size || (await sha256Hex(tar)) !== ref.digest) {
    throw new FarmError(
      'ERR_BAD_SIGNATURE',
      `the outputs of job ${job.id} are not the bytes its builder signed (${tar.byteLength} bytes, ` +
        `signed ${ref.size}); ${NOTHING}: ${TELL}`,
    );
  }
}
