/**
 * The builder's result signer: an Ed25519 key pair made when the agent registers (a new one per
 * registration, like the job-token key), whose private half lives only in this process's memory —
 * never written to disk, never sent anywhere. The public half is registered with the lease; the
 * manifest signed is protocol/result-signature.ts's.
 */
import { createHash, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import {
  manifestBytes,
  manifestOf,
  signatureOf,
  type ResultParts,
  type ResultSignature,
} from '../../protocol/result-signature.ts';

export interface ResultSigner {
  /** The public key, base64url of its 32 raw bytes (what is registered and handed with results). */
  readonly publicKey: string;
  /** Signs the manifest of a result of builder `builder` (the signer's key is filled in). */
  sign(parts: Omit<ResultParts, 'key'>): Promise<ResultSignature>;
}

/** A signer with a fresh key pair. */
export function createResultSigner(): ResultSigner {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const raw = publicKey.export({ format: 'jwk' }).x;
  if (!raw) throw new Error('ed25519 public key without its x coordinate');
  return signerOf(raw, privateKey);
}

const fromBase64 = (s: string): Uint8Array => Buffer.from(s, 'base64');
/** node:crypto's SHA-256, synchronous: no Web Crypto job per inline blob (three per compile). */
const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

function signerOf(key: string, privateKey: KeyObject): ResultSigner {
  // A cacheable kiln cc job signs the same manifest twice (its cache entry, then its result): the
  // last signature is kept with its bytes and handed out again for the same bytes.
  let last: { bytes: Uint8Array; sig: ResultSignature } | undefined;
  return {
    publicKey: key,
    async sign(parts) {
      const m = await manifestOf({ ...parts, key }, fromBase64, sha256);
      const bytes = manifestBytes(m);
      if (last && Buffer.compare(last.bytes, bytes) === 0) return { ...last.sig };
      const sig = signatureOf(m, new Uint8Array(sign(null, bytes, privateKey)));
      last = { bytes, sig };
      return { ...sig };
    },
  };
}
