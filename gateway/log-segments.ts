/**
 * Reading back the part of a job's log that Redis no longer holds: the entries of one attempt in
 * a range of `seq`, from the store's log segments (protocol/log-segment.ts).
 */
import { decodeSegment, LOG_SEGMENT_ENTRIES, segmentOf, type SegmentEntry } from '../protocol/log-segment.ts';
import { logSegmentKey } from '../protocol/store-keys.ts';
import type { BlobStore } from '../storage/port.ts';

async function readAll(body: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let n = 0;
  const reader = body.getReader();
  for (;;) {
    const r = await reader.read();
    if (r.done) break;
    parts.push(r.value);
    n += r.value.byteLength;
  }
  const out = new Uint8Array(n);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.byteLength;
  }
  return out;
}

/**
 * Entries `from` ≤ seq < `to` of an attempt, one segment at a time (at most 1 MiB held), handed
 * to `emit` in order; a segment missing from the store is skipped.
 */
export async function readSegments(
  store: Pick<BlobStore, 'get'>,
  job: { tenant: string; id: string; attempt: number },
  from: number,
  to: number,
  emit: (e: SegmentEntry, seq: number) => void,
): Promise<void> {
  if (to <= from) return;
  for (let index = segmentOf(from); index <= segmentOf(to - 1); index++) {
    const body = await store.get(logSegmentKey(job.tenant, job.id, job.attempt, index));
    if (!body) continue;
    const entries = decodeSegment(await readAll(body));
    entries.forEach((e, i) => {
      const seq = index * LOG_SEGMENT_ENTRIES + i;
      if (seq >= from && seq < to) emit(e, seq);
    });
  }
}
