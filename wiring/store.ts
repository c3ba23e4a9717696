/** Builds the blob store named by a storage config. */
import { readFileSync } from 'node:fs';
import { KilnError } from '../protocol/errors.ts';
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
    // The store is one endpoint: with its own CA, that CA alone is trusted for it.
    ...(cfg.ca ? { ca: [readCa(cfg.ca)] } : {}),
    ...(cfg.accessKeyId && cfg.secretAccessKey
      ? { credentials: { accessKeyId: cfg.accessKeyId, secretAccessKey: cfg.secretAccessKey } }
      : {}),
  });
}

/** The store's CA bundle (storage.ca), read once at start so a wrong path is a config error. */
function readCa(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new KilnError('ERR_CONFIG', `cannot read storage.ca ${file}: ${why}`, { cause: err });
  }
}
