/**
 * The blob-store port: the few operations gateway and builders use. Runtime-neutral.
 * Implementations: storage/s3.ts (AWS S3 or any S3-compatible store) and storage/local-dir.ts
 * (a directory, the one-machine default). Both pass test/storage/conformance.ts.
 *
 * Keys are `/`-separated relative names such as `blobs/<tenant>/<sha256>`; they never start
 * with `/` and never contain `..` segments.
 */
export interface BlobStore {
  /** A short name for logs and `/api/v1/status` ("s3", "local"). */
  readonly kind: string;
  /**
   * Size of the object, or null when it does not exist; `sha256` (hex) when the store keeps a
   * whole-object checksum for it (S3 objects uploaded by presigned PUT).
   */
  stat(key: string): Promise<{ size: number; sha256?: string } | null>;
  /** Stores an object whole (replaces any existing one). Partial writes are never visible. */
  put(key: string, body: Uint8Array | ReadableStream<Uint8Array>, size?: number): Promise<void>;
  /** The object's bytes as a stream, or null when it does not exist. */
  get(key: string): Promise<ReadableStream<Uint8Array> | null>;
  /** Removes an object; removing a missing one is not an error. */
  delete(key: string): Promise<void>;
  /** Keys and sizes under a prefix, in no particular order. */
  list(prefix: string): AsyncIterable<{ key: string; size: number }>;
  /**
   * A URL a client can PUT the object to directly, or null when this store cannot presign
   * (then uploads go through the gateway). `sha256` (hex) is enforced by the store where it can.
   */
  presignPut(
    key: string,
    opts: { size: number; sha256: string; ttlSec: number },
  ): Promise<PresignedRequest | null>;
  /** A URL a client can GET the object from directly, or null when this store cannot presign. */
  presignGet(key: string, opts: { ttlSec: number }): Promise<PresignedRequest | null>;
}

/** A request the client makes itself, straight to the store. */
export interface PresignedRequest {
  method: 'PUT' | 'GET';
  url: string;
  headers: Record<string, string>;
}

/** Throws when `key` is not a safe relative store key. */
export function assertStoreKey(key: string): void {
  if (
    key === '' ||
    key.startsWith('/') ||
    key.includes('\0') ||
    key.split('/').some((s) => s === '..' || s === '')
  ) {
    throw new Error(`invalid store key: ${JSON.stringify(key)}`);
  }
}
