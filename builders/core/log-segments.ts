/**
 * The sink of a job's log: every entry goes to the Redis tail (bounded by the farm) and into the
 * current store segment (protocol/log-segment.ts). A full segment is stored before the next
 * entry is appended, so an entry is in the store before the tail can drop it; the last, partial
 * segment is stored by `close`. Chunks are split to at most LOG_ENTRY_MAX_BYTES.
 */
import {
  encodeSegment,
  LOG_ENTRY_MAX_BYTES,
  LOG_SEGMENT_ENTRIES,
  type SegmentEntry,
} from '../../protocol/log-segment.ts';
import { logSegmentKey } from '../../protocol/store-keys.ts';
import type { BuilderFarm } from '../../protocol/builder-port.ts';
import type { BlobStore } from '../../storage/port.ts';
import type { LogSink } from './log-pump.ts';

export interface SegmentedLog {
  sink: LogSink;
  /** Stores the last, partial segment. Call after the pump has flushed. */
  close(): Promise<void>;
}

export function createSegmentedLog(
  farm: Pick<BuilderFarm, 'appendLog'>,
  store: Pick<BlobStore, 'put'>,
  job: { id: string; attempt: number; tenant: string },
): SegmentedLog {
  let seq = 0;
  let current: SegmentEntry[] = [];
  const storeSegment = async (): Promise<void> => {
    if (current.length === 0) return;
    const index = Math.floor((seq - 1) / LOG_SEGMENT_ENTRIES);
    const bytes = encodeSegment(current);
    current = [];
    await store.put(logSegmentKey(job.tenant, job.id, job.attempt, index), bytes, bytes.byteLength);
  };
  const one = async (kind: 'out' | 'err', data: Uint8Array): Promise<void> => {
    current.push({ kind, data });
    await farm.appendLog(job.id, job.attempt, kind, data, seq++);
    if (current.length === LOG_SEGMENT_ENTRIES) await storeSegment();
  };
  return {
    async sink(kind, data) {
      for (let off = 0; off < data.byteLength; off += LOG_ENTRY_MAX_BYTES)
        await one(kind, data.subarray(off, off + LOG_ENTRY_MAX_BYTES));
    },
    close: storeSegment,
  };
}
