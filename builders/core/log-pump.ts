/**
 * Batches a job's output into its Redis log stream: chunks are merged for up to `flushMs` or
 * `maxBatch` bytes, in order, and everything past `limitBytes` is dropped (reported once). What is
 * taken but not yet appended is bounded: past `maxBacklog` bytes, `write` answers a promise that
 * settles once the backlog is down to half, and the runner stops reading the job's output until
 * then (the job's writes block), so a job writing faster than the log is stored never makes the
 * builder hold its log.
 */
export interface LogSink {
  (kind: 'out' | 'err', data: Uint8Array): Promise<void>;
}

/** Bytes taken but not yet appended past which the producer is asked to wait. */
export const LOG_BACKLOG_MAX = 8 << 20;

export interface LogPump {
  /** Takes a chunk; a promise when the producer should wait for it before reading more. */
  write(stream: 'stdout' | 'stderr', chunk: Uint8Array): Promise<void> | undefined;
  /** Flushes what is pending and waits for every append. */
  close(): Promise<void>;
  readonly truncated: boolean;
  readonly bytes: number;
}

/**
 * @param flushMs batching window. @default 20  @param maxBatch bytes per append. @default 65536
 * @param maxBacklog bytes taken but not appended before `write` asks to wait. @default LOG_BACKLOG_MAX
 */
export function createLogPump(
  sink: LogSink,
  limitBytes: number,
  flushMs = 20,
  maxBatch = 65_536,
  maxBacklog = LOG_BACKLOG_MAX,
): LogPump {
  let pending: { kind: 'out' | 'err'; parts: Uint8Array[]; size: number }[] = [];
  let timer: ReturnType<typeof setTimeout> | null = null;
  let chain: Promise<void> = Promise.resolve();
  let bytes = 0;
  let truncated = false;
  let failure: unknown = null;
  /** Bytes taken and not yet appended (pending or on the chain), and who waits for them to drop. */
  let backlog = 0;
  let waiters: (() => void)[] = [];
  const appended = (size: number): void => {
    backlog -= size;
    if (backlog > maxBacklog / 2 || waiters.length === 0) return;
    const wake = waiters;
    waiters = [];
    for (const w of wake) w();
  };
  const backpressure = (): Promise<void> | undefined =>
    backlog < maxBacklog ? undefined : new Promise<void>((res) => waiters.push(res));

  const flush = (): void => {
    if (timer) clearTimeout(timer);
    timer = null;
    const batch = pending;
    pending = [];
    for (const b of batch) {
      const data = b.parts.length === 1 ? b.parts[0]! : Buffer.concat(b.parts);
      chain = chain
        .then(() => sink(b.kind, data))
        .catch((err: unknown) => void (failure ??= err))
        .finally(() => appended(b.size));
    }
  };

  const push = (kind: 'out' | 'err', data: Uint8Array): void => {
    backlog += data.byteLength;
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
        return backpressure();
      }
      bytes += chunk.byteLength;
      push(kind, chunk);
      return backpressure();
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
