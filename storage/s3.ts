/**
 * The blob store on AWS S3 or any S3-compatible store (MinIO, Ceph, R2, s3rver in tests).
 * Runtime-neutral: Web streams and Uint8Array only, so gateway code can use it under Deno too.
 */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import type { CompletedPart } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { KilnError } from '../protocol/errors.ts';
import { assertStoreKey } from './port.ts';
import { PartReader, sizeMismatch } from './part-reader.ts';
import type { BlobStore, PresignedRequest } from './port.ts';

/** How to reach the bucket. */
export interface S3StoreOptions {
  /** The bucket; it must exist (the store never creates one). */
  bucket: string;
  /** Prepended to every key, as is (end it with `/` to get a folder). @default '' */
  prefix?: string;
  /** @default 'us-east-1' */
  region?: string;
  /** For S3-compatible stores, e.g. `http://127.0.0.1:9000`. @default AWS's endpoint for the region */
  endpoint?: string;
  /** Path-style URLs (`endpoint/bucket/key`). @default true when `endpoint` is given, else false */
  forcePathStyle?: boolean;
  /** @default the SDK's default credential chain (environment, profile, instance role, …) */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** A client to use instead of building one; region, endpoint, credentials and timeouts are then ignored. */
  client?: S3Client;
  /** Attempts per request, the first included (connection failures, 5xx and throttling are retried). @default 3 */
  maxAttempts?: number;
  /**
   * PEM CA certificates trusted for an `https://` endpoint, instead of the runtime's roots: a
   * store on a private PKI.
   * @default the runtime's roots
   */
  ca?: string[];
  /** Give up on a TCP connection not established after this long. @default 5000 */
  connectionTimeoutMs?: number;
  /** Fail a request whose socket stays idle this long (a download the reader pauses counts too). @default 60000 */
  socketTimeoutMs?: number;
  /**
   * Bytes buffered per part when `put` gets a stream: a stream that ends within one part is one
   * PutObject, a longer one a multipart upload. Memory held per streaming put is about twice this.
   * The size doubles every 1,000 parts to stay under S3's 10,000-part limit. At least 5 MiB.
   * @default 8 MiB
   */
  partSize?: number;
  /** Keys per ListObjectsV2 page (1–1000). @default 1000 */
  listPageSize?: number;
}

/** An S3 blob store; `close()` releases the client's sockets when this store built the client. */
export interface S3BlobStore extends BlobStore {
  close(): void;
}

const MIN_PART = 5 * 1024 * 1024;
const END = { bytes: new Uint8Array(0), done: true };
const MAX_PRESIGN_SEC = 7 * 24 * 3600;

/** Builds a blob store on an S3 bucket. Nothing is contacted until the first operation. */
export function createS3Store(opts: S3StoreOptions): S3BlobStore {
  const bucket = opts.bucket;
  const base = opts.prefix ?? '';
  const partSize = opts.partSize ?? 8 * 1024 * 1024;
  const pageSize = opts.listPageSize ?? 1000;
  if (!bucket) throw new KilnError('ERR_CONFIG', 's3 store: bucket is required');
  if (!(partSize >= MIN_PART))
    throw new KilnError('ERR_CONFIG', `s3 store: partSize must be at least ${MIN_PART}`);
  if (!(pageSize >= 1 && pageSize <= 1000))
    throw new KilnError('ERR_CONFIG', 's3 store: listPageSize must be 1–1000');
  const owned = opts.client === undefined;
  const client =
    opts.client ??
    new S3Client({
      region: opts.region ?? 'us-east-1',
      endpoint: opts.endpoint,
      forcePathStyle: opts.forcePathStyle ?? opts.endpoint !== undefined,
      credentials: opts.credentials,
      maxAttempts: opts.maxAttempts ?? 3,
      requestHandler: {
        connectionTimeout: opts.connectionTimeoutMs ?? 5000,
        socketTimeout: opts.socketTimeoutMs ?? 60_000,
        // Options of the https.Agent the SDK's handler builds (on Node, and on Deno's node:https).
        ...(opts.ca ? { httpsAgent: { ca: opts.ca } } : {}),
      },
    });

  /** Sends one command, turning SDK failures into KilnErrors. */
  async function send<T>(op: string, key: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      throw storeError(op, key, err);
    }
  }

  async function putStream(
    key: string,
    body: ReadableStream<Uint8Array>,
    size: number | undefined,
  ): Promise<void> {
    const Key = base + key;
    const parts = new PartReader(body.getReader(), size);
    try {
      const first = await parts.next(partSize);
      if (first.done) {
        await send('put', key, () =>
          client.send(new PutObjectCommand({ Bucket: bucket, Key, Body: first.bytes })),
        );
        return;
      }
      const created = await send('put', key, () =>
        client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key, ChecksumAlgorithm: 'CRC32' })),
      );
      const UploadId = created.UploadId;
      if (!UploadId)
        throw new KilnError('ERR_UNAVAILABLE', `s3 put ${key}: no UploadId in the store's answer`);
      try {
        const done: CompletedPart[] = [];
        let part = first;
        for (let n = 1; part.bytes.byteLength > 0; n++) {
          const PartNumber = n;
          const Body = part.bytes;
          const upload = send('put', key, () =>
            client.send(
              new UploadPartCommand({
                Bucket: bucket,
                Key,
                UploadId,
                PartNumber,
                Body,
                ChecksumAlgorithm: 'CRC32',
              }),
            ),
          );
          // Read the next part while this one uploads; stop reading if the upload fails.
          const reading = part.done ? Promise.resolve(END) : parts.next(partSize * 2 ** Math.floor(n / 1000));
          reading.catch(() => {}); // handled below, after the upload settles
          try {
            const out = await upload;
            done.push({ PartNumber, ETag: out.ETag, ChecksumCRC32: out.ChecksumCRC32 });
          } catch (err) {
            await parts.cancel(err);
            await reading.catch(() => {});
            throw err;
          }
          part = await reading;
        }
        await send('put', key, () =>
          client.send(
            new CompleteMultipartUploadCommand({
              Bucket: bucket,
              Key,
              UploadId,
              MultipartUpload: { Parts: done },
            }),
          ),
        );
      } catch (err) {
        // Best effort: an upload never completed is never visible; abort frees its parts.
        await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key, UploadId })).catch(() => {});
        throw err;
      }
    } catch (err) {
      await parts.cancel(err);
      throw err;
    }
  }

  return {
    kind: 's3',

    async stat(key) {
      assertStoreKey(key);
      try {
        const out = await client.send(
          new HeadObjectCommand({ Bucket: bucket, Key: base + key, ChecksumMode: 'ENABLED' }),
        );
        // A multipart object's checksum is of its parts ("…-N"), not of the object: not comparable.
        const sum = out.ChecksumSHA256;
        const whole = sum && !sum.includes('-') && out.ChecksumType !== 'COMPOSITE';
        return { size: out.ContentLength ?? 0, ...(whole ? { sha256: base64ToHex(sum) } : {}) };
      } catch (err) {
        if (isNotFound(err)) return null;
        throw storeError('stat', key, err);
      }
    },

    async put(key, body, size) {
      assertStoreKey(key);
      if (!(body instanceof Uint8Array)) return putStream(key, body, size);
      if (size !== undefined && size !== body.byteLength) throw sizeMismatch(key, size, body.byteLength);
      await send('put', key, () =>
        client.send(new PutObjectCommand({ Bucket: bucket, Key: base + key, Body: body })),
      );
    },

    async get(key) {
      assertStoreKey(key);
      try {
        const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: base + key }));
        if (!out.Body) throw new KilnError('ERR_UNAVAILABLE', `s3 get ${key}: the store sent no body`);
        return out.Body.transformToWebStream() as ReadableStream<Uint8Array>;
      } catch (err) {
        if (isNotFound(err)) return null;
        throw storeError('get', key, err);
      }
    },

    async delete(key) {
      assertStoreKey(key);
      await send('delete', key, () =>
        client.send(new DeleteObjectCommand({ Bucket: bucket, Key: base + key })),
      );
    },

    async *list(prefix) {
      if (prefix !== '') assertStoreKey(prefix.endsWith('/') ? prefix.slice(0, -1) : prefix);
      let token: string | undefined;
      do {
        const ContinuationToken = token;
        const out = await send('list', prefix, () =>
          client.send(
            new ListObjectsV2Command({
              Bucket: bucket,
              Prefix: base + prefix,
              ContinuationToken,
              MaxKeys: pageSize,
            }),
          ),
        );
        for (const obj of out.Contents ?? []) {
          const key = obj.Key?.slice(base.length);
          if (key !== undefined && isStoreKey(key)) yield { key, size: obj.Size ?? 0 };
        }
        token = out.IsTruncated ? out.NextContinuationToken : undefined;
      } while (token);
    },

    async presignPut(key, { size, sha256, ttlSec }): Promise<PresignedRequest> {
      assertStoreKey(key);
      checkTtl(ttlSec);
      if (!/^[0-9a-f]{64}$/.test(sha256))
        throw new KilnError('ERR_VALIDATION', `sha256 must be 64 lowercase hex digits`);
      if (!Number.isSafeInteger(size) || size < 0)
        throw new KilnError('ERR_VALIDATION', `size must be a whole number`);
      const checksum = hexToBase64(sha256);
      const command = new PutObjectCommand({
        Bucket: bucket,
        Key: base + key,
        ContentLength: size,
        ChecksumSHA256: checksum,
      });
      // The checksum stays a signed header (not a query parameter) so S3 checks the body against it.
      const url = await send('presign', key, () =>
        getSignedUrl(client, command, {
          expiresIn: ttlSec,
          unhoistableHeaders: new Set(['x-amz-checksum-sha256']),
        }),
      );
      const headers = signedHeaders(url, {
        'content-length': String(size),
        'x-amz-checksum-sha256': checksum,
      });
      return { method: 'PUT', url, headers };
    },

    async presignGet(key, { ttlSec }): Promise<PresignedRequest> {
      assertStoreKey(key);
      checkTtl(ttlSec);
      const command = new GetObjectCommand({ Bucket: bucket, Key: base + key });
      const url = await send('presign', key, () => getSignedUrl(client, command, { expiresIn: ttlSec }));
      return { method: 'GET', url, headers: signedHeaders(url, {}) };
    },

    close() {
      if (owned) client.destroy();
    },
  };
}

function checkTtl(ttlSec: number): void {
  if (!Number.isInteger(ttlSec) || ttlSec < 1 || ttlSec > MAX_PRESIGN_SEC) {
    throw new KilnError(
      'ERR_VALIDATION',
      `ttlSec must be a whole number of seconds from 1 to ${MAX_PRESIGN_SEC}`,
    );
  }
}

function isStoreKey(key: string): boolean {
  try {
    assertStoreKey(key);
    return true;
  } catch {
    return false;
  }
}

/** The headers a presigned URL was signed with (besides host), which the client must send. */
function signedHeaders(url: string, known: Record<string, string>): Record<string, string> {
  const names = new URL(url).searchParams.get('X-Amz-SignedHeaders')?.split(';') ?? [];
  const headers: Record<string, string> = {};
  for (const name of names) {
    if (name === 'host') continue;
    const value = known[name];
    if (value === undefined) throw new KilnError('ERR_INTERNAL', `presign: unexpected signed header ${name}`);
    headers[name] = value;
  }
  return headers;
}

function base64ToHex(b64: string): string {
  return Array.from(atob(b64), (ch) => ch.charCodeAt(0).toString(16).padStart(2, '0')).join('');
}

function hexToBase64(hex: string): string {
  let bin = '';
  for (let i = 0; i < hex.length; i += 2) bin += String.fromCharCode(parseInt(hex.slice(i, i + 2), 16));
  return btoa(bin);
}

type SdkError = { name?: string; message?: string; code?: unknown; $metadata?: { httpStatusCode?: number } };

function isNotFound(err: unknown): boolean {
  const e = err as SdkError;
  return e?.name === 'NotFound' || e?.name === 'NoSuchKey';
}

/** TLS verification failures of Node (and Deno's node:https): the certificate chain is not trusted. */
const UNTRUSTED =
  /^(SELF_SIGNED_CERT_IN_CHAIN|DEPTH_ZERO_SELF_SIGNED_CERT|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT(_LOCALLY)?|CERT_HAS_EXPIRED|CERT_NOT_YET_VALID|ERR_TLS_CERT_ALTNAME_INVALID)$/;

const THROTTLED = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'RequestTimeout',
  'TimeoutError',
]);

/**
 * ERR_UNAVAILABLE (retry later) for transport failures — no HTTP answer at all — and for 5xx,
 * 429 and throttling; ERR_INTERNAL for anything else (bad credentials, missing bucket, …).
 */
function storeError(op: string, key: string, err: unknown): KilnError {
  if (err instanceof KilnError) return err;
  const e = (err ?? {}) as SdkError;
  const status = e.$metadata?.httpStatusCode;
  const what = `${e.name ?? 'Error'}: ${e.message ?? String(err)}`;
  // A store whose certificate is not trusted stays so until someone configures it: not a retry.
  if (typeof e.code === 'string' && UNTRUSTED.test(e.code)) {
    return new KilnError(
      'ERR_CONFIG',
      `s3 ${op} ${key}: the store's TLS certificate is not trusted (${e.code}); ` +
        'set storage.ca to the CA bundle that signed it',
      { cause: err },
    );
  }
  // No HTTP answer: the SDK marks errors it sent (`$metadata`); sockets fail with a `code`.
  const transport = status === undefined && (e.$metadata !== undefined || typeof e.code === 'string');
  if (
    transport ||
    (status !== undefined && (status >= 500 || status === 429)) ||
    THROTTLED.has(e.name ?? '')
  ) {
    return new KilnError('ERR_UNAVAILABLE', `s3 ${op} ${key}: object store unavailable (${what})`, {
      cause: err,
      retryAfter: 1,
    });
  }
  return new KilnError('ERR_INTERNAL', `s3 ${op} ${key}: ${what}`, { cause: err });
}
