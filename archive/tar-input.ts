/**
 * The reading side of extract.ts: sniffing the format of an archive and guarding gunzip
 * against compression bombs.
 */
import { Readable } from 'node:stream';
import { KilnError } from '../protocol/errors.ts';
import type { ArchiveLimits } from './limits.ts';

/** Compressed bytes handed to gunzip at a time: bounds what one step can inflate (~1000x). */
const GUNZIP_STEP = 4096;
/** Slice size for a Uint8Array source. */
const SLICE = 64 * 1024;

export type ArchiveFormat = 'tar' | 'gzip' | 'zstd' | 'xz' | 'bzip2';

/** Reads the first bytes of `source` and gives back all of it as one async iterator. */
export async function sniff(
  source: Readable | Uint8Array,
): Promise<{ head: Buffer; chunks: AsyncGenerator<Uint8Array> }> {
  const it = slices(source);
  let head = Buffer.alloc(0);
  const first: Uint8Array[] = [];
  while (head.length < 6) {
    const r = await it.next();
    if (r.done) break;
    first.push(r.value);
    head = Buffer.concat([head, r.value]);
  }
  if (head.length === 0) throw new KilnError('ERR_ARCHIVE_INVALID', 'the archive is empty');
  async function* chunks(): AsyncGenerator<Uint8Array> {
    try {
      yield* first;
      yield* { [Symbol.asyncIterator]: () => it };
    } finally {
      await it.return(undefined);
    }
  }
  return { head, chunks: chunks() };
}

async function* slices(source: Readable | Uint8Array): AsyncGenerator<Uint8Array> {
  if (!(source instanceof Readable)) {
    for (let i = 0; i < source.byteLength; i += SLICE) yield source.subarray(i, i + SLICE);
    return;
  }
  for await (const chunk of source as AsyncIterable<Uint8Array | string>) {
    yield typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
  }
}

/** The format of an archive from its first (up to 6) bytes; anything unknown is taken as tar. */
export function detectFormat(head: Buffer): ArchiveFormat {
  const starts = (...bytes: number[]): boolean => bytes.every((b, i) => head[i] === b);
  if (starts(0x1f, 0x8b)) return 'gzip';
  if (starts(0x28, 0xb5, 0x2f, 0xfd)) return 'zstd';
  if (starts(0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00)) return 'xz';
  if (starts(0x42, 0x5a, 0x68)) return 'bzip2';
  return 'tar';
}

/**
 * The two stages around gunzip: `steps` counts compressed bytes and hands them over in small
 * steps (so one step can inflate at most a few MiB), `check` counts what comes out and stops
 * as soon as the ratio is over the limit.
 */
export function gzipGuards(lim: ArchiveLimits): {
  steps: (src: AsyncIterable<Uint8Array>) => AsyncGenerator<Uint8Array>;
  check: (src: AsyncIterable<Uint8Array>) => AsyncGenerator<Uint8Array>;
} {
  let compressed = 0;
  let inflated = 0;
  return {
    async *steps(src) {
      for await (const chunk of src) {
        for (let i = 0; i < chunk.byteLength; i += GUNZIP_STEP) {
          const step = chunk.subarray(i, i + GUNZIP_STEP);
          compressed += step.byteLength;
          yield step;
        }
      }
    },
    async *check(src) {
      for await (const chunk of src) {
        inflated += chunk.byteLength;
        if (inflated > lim.ratioGraceBytes && inflated > compressed * lim.maxRatio) {
          throw new KilnError(
            'ERR_ARCHIVE_INVALID',
            `compression ratio over ${lim.maxRatio}:1 (${inflated} bytes from ${compressed}): refusing a compression bomb`,
            { detail: { inflated, compressed } },
          );
        }
        yield chunk;
      }
    },
  };
}
