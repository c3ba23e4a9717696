/** A job's log stream: binary-safe entries `k` (o|e|restart|end), `a` (attempt), `d` (bytes). */
import type { RedisConn } from './connect.ts';
import type { LogEntry } from '../protocol/farm.ts';

const KIND: Record<string, LogEntry['kind']> = { o: 'out', e: 'err', restart: 'restart', end: 'end' };

/** Reads up to `count` entries after `afterId` ("0" for the start). */
export async function readLogEntries(
  redis: RedisConn,
  key: string,
  afterId: string,
  count: number,
): Promise<LogEntry[]> {
  const start = afterId === '0' || afterId === '' ? '-' : `(${afterId}`;
  const rows = await redis.xrangeBuffer(key, start, '+', 'COUNT', count);
  const out: LogEntry[] = [];
  for (const [idBuf, fields] of rows) {
    const f: Record<string, Buffer> = {};
    for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i]!.toString()] = fields[i + 1]!;
    const kind = KIND[f.k?.toString() ?? ''];
    const id = idBuf.toString();
    const attempt = Number(f.a?.toString() ?? '1');
    if (kind === 'out' || kind === 'err') {
      const d = f.d ?? Buffer.alloc(0);
      const data = new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
      const seq = f.s === undefined ? undefined : Number(f.s.toString());
      out.push({ id, kind, attempt, data, ...(seq === undefined ? {} : { seq }) });
    } else if (kind) {
      out.push({ id, kind, attempt });
    }
  }
  return out;
}

/** Appends a marker entry (restart or end). */
export async function appendMarker(
  redis: RedisConn,
  key: string,
  kind: 'restart' | 'end',
  attempt: number,
  ttlSec: number,
): Promise<void> {
  await redis.multi().xadd(key, '*', 'k', kind, 'a', String(attempt)).expire(key, ttlSec).exec();
}
