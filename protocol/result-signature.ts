/**
 * Signed results: the ONE definition of what a builder signs and a client verifies. A builder
 * holds an Ed25519 key pair made at its start (the private half only in its memory), registers
 * the public half with its lease, and signs the manifest of every result it writes (the job's
 * result and the action-cache entry): {@link manifestBytes} is the byte string signed, a version
 * prefix and the canonical JSON of a {@link ResultManifest}. Verification is Web Crypto only, so
 * the gateway, Deno and the client share this file.
 */
import { base64url } from 'jose';
import { canonicalJson, sha256Hex } from './digest.ts';

/** The first bytes of every signed manifest: a new layout gets a new prefix, never a reuse. */
export const RESULT_SIGNATURE_PREFIX = 'kiln-result-v1\n';

/** Digest and size of some bytes (protocol/job.ts's BlobRef; not imported, so job.ts may import this file). */
export interface SignedBlob {
  digest: string;
  size: number;
}

/** One inline output file as signed: its path, the SHA-256 and size of its bytes, the x bit. */
export interface SignedFile {
  path: string;
  digest: string;
  size: number;
  executable: boolean;
}

/** What a signature covers: who produced which bytes for which job and action, and how it ended. */
export interface ResultManifest {
  /** The job that produced the result (a cache hit names the job that filled the entry). */
  job: string;
  /** The action digest of a cacheable job, else null. */
  action: string | null;
  /** The builder id (`<name>-<random>`) that ran it. */
  builder: string;
  /** The signer's public key (base64url, 32 bytes raw), so the statement names its signer. */
  key: string;
  exitCode: number | null;
  signal: string | null;
  /** The outputs tar (kiln run), or null. */
  outputs: SignedBlob | null;
  /** Inline stdout and stderr (digest and size of the decoded bytes), or null when not inline. */
  stdout: SignedBlob | null;
  stderr: SignedBlob | null;
  /** Inline output files (kiln cc's object), in the order the result lists them. */
  files: SignedFile[];
  /** Declared outputs that were not produced. */
  missing: string[];
}

/** The signature a builder attaches to a result (job record and cache entry). */
export interface ResultSignature {
  v: 1;
  alg: 'Ed25519';
  /** The producing job: part of the manifest, carried because a cache hit's view has another id. */
  job: string;
  /** The producing builder id. */
  builder: string;
  /** The signer's public key, base64url (32 bytes raw). */
  key: string;
  /** base64url of the 64-byte Ed25519 signature over {@link manifestBytes}. */
  sig: string;
}

/** A signature as the gateway hands it out: whether its key is a builder's registered one. */
export interface SignatureView extends ResultSignature {
  /**
   * True when `key` is the key that builder `builder` registered with its lease (live, or gone
   * for less than {@link SIGNER_KEY_KEPT_SEC}); false for a key no registered builder had.
   */
  registered: boolean;
}

/**
 * How long a builder's public key stays known after its last heartbeat: 30 days, longer than job
 * keys (two days), because action-cache entries it signed outlive its jobs. @default 30 days
 */
export const SIGNER_KEY_KEPT_SEC = 30 * 24 * 3600;

/** The parts of a result a manifest is made of (inline data as the wire carries it: base64). */
export interface ResultParts {
  job: string;
  action: string | null;
  builder: string;
  key: string;
  exitCode: number | null;
  signal: string | null;
  outputs: SignedBlob | null;
  inline: {
    stdout: string;
    stderr: string;
    files: { path: string; data: string; executable: boolean }[];
  } | null;
  missing: string[];
}

/** Bytes of standard (padded) base64, with the Web's `atob` (Node, Deno and browsers have it). */
export function fromBase64(s: string): Uint8Array {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** Decodes standard base64; Node callers pass `Buffer.from(s, 'base64')`, several times faster. */
export type Base64Decoder = (s: string) => Uint8Array;
/** SHA-256 as 64 hex digits; Node callers pass node:crypto's (synchronous: no Web Crypto job per blob). */
export type Sha256Hasher = (bytes: Uint8Array) => string | Promise<string>;

/** The manifest of a result: inline data hashed, everything else as given. */
export async function manifestOf(
  p: ResultParts,
  decode: Base64Decoder = fromBase64,
  hash: Sha256Hasher = sha256Hex,
): Promise<ResultManifest> {
  const ref = async (b64: string): Promise<SignedBlob> => {
    const bytes = decode(b64);
    return { digest: await hash(bytes), size: bytes.byteLength };
  };
  const inline = p.inline;
  return {
    job: p.job,
    action: p.action,
    builder: p.builder,
    key: p.key,
    exitCode: p.exitCode,
    signal: p.signal,
    outputs: p.outputs ? { digest: p.outputs.digest, size: p.outputs.size } : null,
    stdout: inline ? await ref(inline.stdout) : null,
    stderr: inline ? await ref(inline.stderr) : null,
    files: inline
      ? await Promise.all(
          inline.files.map(async (f) => ({ path: f.path, ...(await ref(f.data)), executable: f.executable })),
        )
      : [],
    missing: [...p.missing],
  };
}

/** The exact bytes signed: the version prefix, then the manifest as canonical JSON (sorted keys). */
export function manifestBytes(m: ResultManifest): Uint8Array {
  return new TextEncoder().encode(RESULT_SIGNATURE_PREFIX + canonicalJson(m));
}

/** The signature block for a manifest and the raw signature bytes a signer made over it. */
export function signatureOf(m: ResultManifest, sig: Uint8Array): ResultSignature {
  return { v: 1, alg: 'Ed25519', job: m.job, builder: m.builder, key: m.key, sig: base64url.encode(sig) };
}

/** A well-formed signature block (fields of the right kind and length); says nothing of its validity. */
export function isResultSignature(x: unknown): x is ResultSignature {
  const s = x as Partial<ResultSignature> | null;
  return (
    typeof s === 'object' &&
    s !== null &&
    s.v === 1 &&
    s.alg === 'Ed25519' &&
    typeof s.job === 'string' &&
    typeof s.builder === 'string' &&
    typeof s.key === 'string' &&
    /^[A-Za-z0-9_-]{43}$/.test(s.key) &&
    typeof s.sig === 'string' &&
    /^[A-Za-z0-9_-]{86}$/.test(s.sig)
  );
}

/** Imported verification keys by their base64url form (a farm has few builders; bounded anyway). */
const imported = new Map<string, Promise<CryptoKey>>();

function verifyKey(key: string): Promise<CryptoKey> {
  let k = imported.get(key);
  if (!k) {
    if (imported.size >= 1000) imported.clear();
    k = crypto.subtle.importKey('raw', base64url.decode(key) as Uint8Array<ArrayBuffer>, 'Ed25519', false, [
      'verify',
    ]);
    imported.set(key, k);
    k.catch(() => imported.delete(key));
  }
  return k;
}

/**
 * Checks an Ed25519 signature over `data` by a raw public key (base64url, as signatures name it);
 * may throw for a malformed key. Node callers pass node:crypto's (synchronous).
 */
export type Ed25519Verifier = (key: string, sig: Uint8Array, data: Uint8Array) => boolean | Promise<boolean>;

/** Web Crypto's Ed25519 check. */
async function webVerify(key: string, sig: Uint8Array, data: Uint8Array): Promise<boolean> {
  return crypto.subtle.verify(
    'Ed25519',
    await verifyKey(key),
    sig as Uint8Array<ArrayBuffer>,
    data as Uint8Array<ArrayBuffer>,
  );
}

/**
 * True when `s` is a valid Ed25519 signature by `s.key` over `m`, and `m` names the same job,
 * builder and key as `s`. False for anything else (a malformed block or key included).
 */
export async function verifyResultSignature(
  s: ResultSignature,
  m: ResultManifest,
  verify: Ed25519Verifier = webVerify,
): Promise<boolean> {
  if (!isResultSignature(s) || s.job !== m.job || s.builder !== m.builder || s.key !== m.key) return false;
  try {
    return await verify(s.key, base64url.decode(s.sig), manifestBytes(m));
  } catch {
    return false;
  }
}
