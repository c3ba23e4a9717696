/** Builds the blob store named by a storage config. */
import type { StorageConfig } from '../protocol/farm-config.ts';
import type { BlobStore } from '../storage/port.ts';
import { createS3Store } from '../storage/s3.ts';
import { createLocalDirStore } from '../storage/local-dir.ts';

export function openStore(cfg: StorageConfig): BlobStore {
  if (cfg.type === 'local') return createLocalDirStore({ root: cfg.dir });
  return createS3Store({
    bucket: cfg.bucket,
    prefix: cfg.prefix,
    region: cfg.region,
    ...(cfg.endpoint ? { endpoint: cfg.endpoint } : {}),
    ...(cfg.accessKeyId && cfg.secretAccessKey
      ? { credentials: { accessKeyId: cfg.accessKeyId, secretAccessKey: cfg.secretAccessKey } }
      : {}),
  });
}
