/**
 * Batches a job's output into its Redis log stream: chunks are merged for up to `flushMs` or
 * `maxBatch` bytes, in order, and everything past `limitBytes` is dropped (reported once).
 */
export interface LogSink {
  (kind: 'out' | 'err', data: Uint8Array): Promise<void>;
}

export interface LogPump {
  write(stream: 'stdout' | 'stderr', chunk: Uint8Array): void;
  /** Flushes what is pending and waits for every append. */
  close(): Promise<void>;
  readonly truncated: boolean;
  readonly bytes: number;
}

/** @param flushMs batching window. @default 20  @param maxBatch bytes per append. @default 65536 */
export function createLogPump(sink: LogSink, limitBytes: number, flushMs = 20, maxBatch = 65_536): LogPump {
  let pending: { kind: 'out' | 'err'; parts: Uint8Array[]; size: number }[] = [];
  let timer: ReturnType<typeof setTimeout> | null = null;
  let chain: Promise<void> = Promise.resolve();
  let bytes = 0;
  let truncated = false;
  let failure: unknown = null;

  const flush = (): void => {
    if (timer) clearTimeout(timer);
    timer = null;
    const batch = pending;
    pending = [];
    for (const b of batch) {
      const data = b.parts.length === 1 ? b.parts[0]! : Buffer.concat(b.parts);
      chain = chain.then(() => sink(b.kind, data)).catch((err: unknown) => void (failure ??= err));
    }
  };

  const push = (kind: 'out' | 'err', data: Uint8Array): void => {
    const last = pending.at(-1);
    if (last && last.kind === kind && last.size + data.byteLength <= maxBatch) {
      last.parts.push(data);
      last.size += data.byteLength;
    } else {
      pending.push({ kind, parts: [data], size: data.byteLength });
    }
    if (pending.reduce((n, p) => n + p.size, 0) >= maxBatch) flush();
    else timer ??= setTimeout(flush, flushMs);
  };

  return {
    write(stream, chunk) {
      const kind = stream === 'stdout' ? 'out' : 'err';
      if (truncated) return;
      const room = limitBytes - bytes;
      if (chunk.byteLength > room) {
        if (room > 0) push(kind, chunk.subarray(0, room));
        bytes = limitBytes;
        truncated = true;
        push(
          'err',
          new TextEncoder().encode(`\nkiln: output over ${limitBytes} bytes; the rest was dropped\n`),
        );
        return;
      }
      bytes += chunk.byteLength;
      push(kind, chunk);
    },
    async close() {
      flush();
      await chain;
      if (failure) throw failure as Error;
    },
    get truncated() {
      return truncated;
    },
    get bytes() {
      return bytes;
    },
  };
}
