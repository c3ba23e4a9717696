/**
 * A job's log in the store: consecutive segments of {@link LOG_SEGMENT_ENTRIES} log entries per
 * attempt, so Redis only keeps a bounded tail. Entry `seq` (0-based, per attempt) lives in
 * segment `floor(seq / LOG_SEGMENT_ENTRIES)`. A segment is a list of frames:
 * one byte kind (`o` stdout, `e` stderr), a 32-bit big-endian length, the bytes. Runtime-neutral.
 */

/**
 * Largest data of one log entry; a builder splits bigger chunks. 60 KiB, so an entry with its
 * Redis stream overhead still fits the allocator's 64 KiB class.
 */
export const LOG_ENTRY_MAX_BYTES = 60 * 1024;
/** Entries per stored segment (so a segment is at most 1 MiB of data). */
export const LOG_SEGMENT_ENTRIES = 16;

export interface SegmentEntry {
  kind: 'out' | 'err';
  data: Uint8Array;
}

/** The segment holding entry `seq`. */
export function segmentOf(seq: number): number {
  return Math.floor(seq / LOG_SEGMENT_ENTRIES);
}

/** Encodes entries as one segment object. */
export function encodeSegment(entries: readonly SegmentEntry[]): Uint8Array {
  const size = entries.reduce((n, e) => n + 5 + e.data.byteLength, 0);
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  let off = 0;
  for (const e of entries) {
    out[off] = e.kind === 'out' ? 0x6f : 0x65;
    view.setUint32(off + 1, e.data.byteLength);
    out.set(e.data, off + 5);
    off += 5 + e.data.byteLength;
  }
  return out;
}

/** Decodes a segment; a truncated or unknown frame ends it (what came before is kept). */
export function decodeSegment(bytes: Uint8Array): SegmentEntry[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: SegmentEntry[] = [];
  for (let off = 0; off + 5 <= bytes.byteLength;) {
    const kind = bytes[off] === 0x6f ? 'out' : bytes[off] === 0x65 ? 'err' : null;
    const len = view.getUint32(off + 1);
    if (!kind || off + 5 + len > bytes.byteLength) break;
    out.push({ kind, data: bytes.subarray(off + 5, off + 5 + len) });
    off += 5 + len;
  }
  return out;
}
