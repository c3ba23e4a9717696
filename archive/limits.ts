/**
 * Limits applied to every archive kiln unpacks (job inputs from clients on builders, job
 * outputs from builders on clients). Exceeding any of them rejects the whole archive with
 * `ERR_ARCHIVE_INVALID` before the offending bytes reach the disk.
 */
export interface ArchiveLimits {
  /**
   * Most entries (files, directories, links) in one archive.
   * @default 100_000
   */
  maxEntries: number;
  /**
   * Most bytes of file contents in the whole archive, uncompressed (the sum of the sizes in the
   * entry headers; checked on each header, before its data is written).
   * @default 4 GiB
   */
  maxBytes: number;
  /**
   * Most bytes in one file entry.
   * @default 1 GiB
   */
  maxEntryBytes: number;
  /**
   * Most uncompressed tar bytes per compressed byte (gzip only), checked continuously while
   * decompressing, so a compression bomb is stopped early.
   * @default 200
   */
  maxRatio: number;
  /**
   * Uncompressed bytes allowed before {@link maxRatio} is enforced, so that tiny archives (a
   * 10 KiB tar of padding compresses to ~50 bytes) are not rejected.
   * @default 1 MiB
   */
  ratioGraceBytes: number;
  /**
   * Longest entry name or link target, in UTF-8 bytes.
   * @default 4096
   */
  maxPathLength: number;
  /**
   * Most path segments in one entry name.
   * @default 256
   */
  maxDepth: number;
}

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** The defaults documented on {@link ArchiveLimits}. */
export const DEFAULT_ARCHIVE_LIMITS: Readonly<ArchiveLimits> = Object.freeze({
  maxEntries: 100_000,
  maxBytes: 4 * GiB,
  maxEntryBytes: 1 * GiB,
  maxRatio: 200,
  ratioGraceBytes: 1 * MiB,
  maxPathLength: 4096,
  maxDepth: 256,
});

/** The defaults overridden by `limits` (entries set to `undefined` keep the default). */
export function resolveArchiveLimits(limits: Partial<ArchiveLimits> = {}): ArchiveLimits {
  const out: ArchiveLimits = { ...DEFAULT_ARCHIVE_LIMITS };
  for (const key of Object.keys(out) as (keyof ArchiveLimits)[]) {
    const value = limits[key];
    if (value !== undefined) out[key] = value;
  }
  return out;
}
