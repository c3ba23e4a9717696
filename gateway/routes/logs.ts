/**
 * GET /api/v1/jobs/{id}/logs[?follow=1][&after=ID][&format=raw]: the whole log from the start (or
 * after entry `after`, to resume a cut follow), then (with follow) every new chunk as it is
 * appended, ending when the job ends. Woken by pub/sub, never polled. NDJSON lines
 * `{stream,data(base64),id,attempt}`, `{restart:attempt,id}`, then `{end:true,state,exitCode}`;
 * `format=raw` sends stdout and stderr bytes as they are.
 *
 * Redis holds only the tail of a long log; the entries it dropped are read from the store's log
 * segments (gateway/log-segments.ts) when a reader reaches them. Their lines carry the id
 * `<attempt>.<seq>`, which `after` accepts as well.
 */
import { Hono } from 'hono';
import { KilnError } from '../../protocol/errors.ts';
import type { BlobStore } from '../../storage/port.ts';
import type { GatewayDeps, GatewayEnv } from '../context.ts';
import { readSegments } from '../log-segments.ts';
import { authorizeJob } from '../job-access.ts';
import { isFinished } from '../job-view.ts';
import type { EventListener, LogEntry } from '../../protocol/farm.ts';
import type { FarmState } from '../../protocol/gateway-port.ts';

const enc = new TextEncoder();
const PAGE = 512;
/** Seconds between keep-alive checks while following a quiet job. */
const IDLE_CHECK_MS = 15_000;

function b64(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

interface Follow {
  farm: FarmState;
  store: Pick<BlobStore, 'get'>;
  tenant: string;
  id: string;
  follow: boolean;
  raw: boolean;
  /** Entry id to start after ("0": the start). */
  after: string;
  abort: AbortController;
}

async function pump(
  f: Follow,
  out: ReadableStreamDefaultController<Uint8Array>,
  listener: EventListener | null,
): Promise<void> {
  const seg = /^(\d+)\.(\d+)$/.exec(f.after);
  let after = seg ? '0' : f.after;
  let attempt = seg ? Number(seg[1]) : 1;
  /** The next entry of the attempt; null after resuming at a tail id (the first entry decides). */
  let nextSeq: number | null = seg ? Number(seg[2]) + 1 : f.after === '0' ? 0 : null;
  const emit = (obj: unknown): void => out.enqueue(enc.encode(JSON.stringify(obj) + '\n'));
  const data = (kind: 'out' | 'err', bytes: Uint8Array, id: string, a: number): void => {
    if (f.raw) out.enqueue(bytes);
    else emit({ stream: kind === 'out' ? 'stdout' : 'stderr', data: b64(bytes), id, attempt: a });
  };
  const newAttempt = (a: number, id?: string): void => {
    if (a > attempt) nextSeq = 0;
    attempt = Math.max(attempt, a);
    if (!f.raw) emit({ restart: a, ...(id ? { id } : {}) });
  };
  for (;;) {
    const entries: LogEntry[] = await f.farm.readLog(f.id, after, PAGE);
    let ended = false;
    for (const e of entries) {
      after = e.id;
      if (e.kind === 'restart') {
        newAttempt(e.attempt, e.id);
      } else if (e.attempt < attempt) {
        continue; // output of a lost attempt that arrived late
      } else if (e.kind === 'end') {
        ended = true;
      } else {
        if (e.attempt > attempt) newAttempt(e.attempt); // its restart entry left the tail
        if (e.seq !== undefined) {
          const from = nextSeq ?? e.seq;
          if (e.seq < from) continue;
          const job = { tenant: f.tenant, id: f.id, attempt };
          await readSegments(f.store, job, from, e.seq, (s, seq) =>
            data(s.kind, s.data, `${job.attempt}.${seq}`, job.attempt),
          );
          nextSeq = e.seq + 1;
        }
        data(e.kind, e.data, e.id, e.attempt);
      }
    }
    if (entries.length === PAGE) continue;
    const rec = ended || !f.follow ? await f.farm.getJob(f.id) : null;
    if (ended || !f.follow || !listener || f.abort.signal.aborted) {
      if (!f.raw && rec && (ended || isFinished(rec)))
        emit({ end: true, state: rec.state, exitCode: rec.exitCode });
      return;
    }
    const woke = await listener.next(IDLE_CHECK_MS, f.abort.signal);
    if (!woke && !f.abort.signal.aborted) {
      const now = await f.farm.getJob(f.id);
      if (!now) return;
      // A job can finish with no end entry only if its log expired; stop rather than wait forever.
      if (isFinished(now) && (await f.farm.readLog(f.id, after, 1)).length === 0) {
        if (!f.raw) emit({ end: true, state: now.state, exitCode: now.exitCode });
        return;
      }
    }
  }
}

export function logRoutes(deps: GatewayDeps): Hono<GatewayEnv> {
  const app = new Hono<GatewayEnv>();
  app.get('/:id/logs', async (c) => {
    const rec = await authorizeJob(deps, c.req.raw, c.req.param('id'));
    const format = c.req.query('format') ?? 'ndjson';
    if (format !== 'ndjson' && format !== 'raw')
      throw new KilnError('ERR_VALIDATION', '?format= must be ndjson or raw');
    const followQ = c.req.query('follow');
    const after = c.req.query('after') ?? '0';
    if (!/^(0|\d{1,20}-\d{1,20}|\d{1,6}\.\d{1,12})$/.test(after))
      throw new KilnError('ERR_VALIDATION', '?after= must be a log entry id (as in the lines) or 0');
    const f: Follow = {
      farm: deps.farm,
      store: deps.store,
      tenant: rec.tenant,
      id: rec.id,
      follow: followQ === '1' || followQ === 'true',
      raw: format === 'raw',
      after,
      abort: new AbortController(),
    };
    c.req.raw.signal.addEventListener('abort', () => f.abort.abort(), { once: true });
    const listener = f.follow ? await deps.farm.listenJob(rec.id) : null;
    const body = new ReadableStream<Uint8Array>({
      start(out) {
        pump(f, out, listener)
          .then(() => out.close())
          .catch((err: unknown) => {
            deps.log(`log stream of ${rec.id} failed: ${String(err)}`);
            out.error(err);
          })
          .finally(() => listener?.close());
      },
      cancel() {
        f.abort.abort();
      },
    });
    return c.body(body, 200, {
      'Content-Type': f.raw ? 'application/octet-stream' : 'application/x-ndjson',
      'Cache-Control': 'no-store',
      'X-Content-Type-Options': 'nosniff',
    });
  });
  return app;
}
