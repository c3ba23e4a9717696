/**
 * A real S3-compatible server for tests: s3rver in-process on 127.0.0.1 with its own temp
 * directory and one bucket. Each call starts a separate server; `stop()` closes it and removes
 * the directory.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A running s3rver and what a client needs to reach it. */
export interface S3rverHandle {
  /** `http://127.0.0.1:<port>` (`https://` with `tls`); use path-style addressing. */
  endpoint: string;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
  stop(): Promise<void>;
}

/** The part of s3rver's API used here (the package ships no types). */
interface S3rverServer {
  run(): Promise<{ port: number }>;
  close(): Promise<void>;
}
type S3rverCtor = new (opts: {
  key?: Buffer;
  cert?: Buffer;
  address: string;
  port: number;
  silent: boolean;
  directory: string;
  resetOnClose: boolean;
  configureBuckets: { name: string }[];
}) => S3rverServer;

const S3rver = createRequire(import.meta.url)('s3rver') as S3rverCtor;

/**
 * Starts s3rver on a free loopback port (the kernel picks it: port 0, read back after
 * listening, so there is no window for another process to take it).
 * s3rver accepts any signature for its built-in key pair S3RVER/S3RVER.
 */
export async function startS3rver(
  opts: { bucket?: string; tls?: { cert: string; key: string } } = {},
): Promise<S3rverHandle> {
  const bucket = opts.bucket ?? 'kiln-test';
  const directory = await mkdtemp(join(tmpdir(), 'kiln-s3rver-'));
  const server = new S3rver({
    // With a certificate (files), s3rver serves HTTPS.
    ...(opts.tls ? { cert: readFileSync(opts.tls.cert), key: readFileSync(opts.tls.key) } : {}),
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory,
    resetOnClose: false,
    configureBuckets: [{ name: bucket }],
  });
  let port: number;
  try {
    ({ port } = await server.run());
  } catch (err) {
    await rm(directory, { recursive: true, force: true });
    throw err;
  }
  let stopped = false;
  return {
    endpoint: `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    bucket,
    accessKeyId: 'S3RVER',
    secretAccessKey: 'S3RVER',
    async stop() {
      if (stopped) return;
      stopped = true;
      try {
        await server.close();
      } finally {
        await rm(directory, { recursive: true, force: true });
      }
    },
  };
}

/** The storage config of a farm that keeps its objects in this s3rver. */
export function s3Storage(s3: S3rverHandle): {
  type: 's3';
  bucket: string;
  prefix: string;
  region: string;
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
} {
  return {
    type: 's3',
    bucket: s3.bucket,
    prefix: '',
    region: 'us-east-1',
    endpoint: s3.endpoint,
    accessKeyId: s3.accessKeyId,
    secretAccessKey: s3.secretAccessKey,
  };
}
