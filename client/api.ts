/**
 * The gateway's job and blob endpoints, as the CLI uses them (over client/http.ts; failures are
 * FarmErrors). Calls that are safe to repeat are retried through gateway restarts and 503s
 * (client/retry.ts).
 */
import { MISSING_BLOBS_MAX } from '../protocol/manifest.ts';
import type { CreatedJob, JobSpecInput, JobView, LogLine } from '../protocol/job.ts';
import { FarmError } from './errors.ts';
import { call, callJson, type Api, type HttpRequest } from './http.ts';
import { isTransient, retrying, type RetryPolicy } from './retry.ts';

/** The retry policy of `api` (see client/retry.ts). */
function policy(api: Api, signal?: AbortSignal): RetryPolicy {
  return {
    budgetMs: api.retryMs ?? 60_000,
    ...(signal ? { signal } : {}),
    ...(api.onRetry ? { onRetry: api.onRetry } : {}),
  };
}

/** A JSON call; `idempotent` ones (reads, and writes safe to repeat) are retried, the body read included. */
function json<T>(api: Api, path: string, r: HttpRequest = {}, idempotent = false): Promise<T> {
  const once = (): Promise<T> => callJson<T>(api, path, r);
  return idempotent ? retrying(once, policy(api, r.signal)) : once();
}

/** A blob the client may upload; `read` is called only when the farm lacks it. */
export interface LocalBlob {
  digest: string;
  size: number;
  read(): Promise<Uint8Array>;
}

interface MissingAnswer {
  missing: string[];
  uploads: Record<string, { method: string; url: string; headers: Record<string, string> }>;
}

/** Uploads the blobs the farm lacks (a few at a time); returns what was sent. */
export async function uploadMissing(api: Api, blobs: LocalBlob[]): Promise<{ bytes: number; blobs: number }> {
  const missing: string[] = [];
  const uploads: MissingAnswer['uploads'] = {};
  for (let i = 0; i < blobs.length || i === 0; i += MISSING_BLOBS_MAX) {
    const ask = {
      blobs: blobs.slice(i, i + MISSING_BLOBS_MAX).map((b) => ({ digest: b.digest, size: b.size })),
    };
    const part = await json<MissingAnswer>(api, '/api/v1/blobs/missing', { method: 'POST', json: ask }, true);
    missing.push(...part.missing);
    Object.assign(uploads, part.uploads);
  }
  const byDigest = new Map(blobs.map((b) => [b.digest, b]));
  let bytes = 0;
  const queue = [...missing];
  const worker = async (): Promise<void> => {
    for (let d = queue.shift(); d !== undefined; d = queue.shift()) {
      const blob = byDigest.get(d);
      const up = uploads[d];
      if (!blob || !up) continue;
      const body = await blob.read();
      // Content-addressed: an upload may be repeated as often as it takes. A presigned URL is
      // sent without the kiln credential (client/http.ts).
      const put = async (): Promise<void> =>
        void (await (
          await call(api, up.url, {
            method: up.method,
            body,
            headers: { 'Content-Type': 'application/octet-stream', ...up.headers },
            what: `upload of blob ${d.slice(0, 12)}`,
          })
        ).bytes());
      await retrying(put, policy(api));
      bytes += body.byteLength;
    }
  };
  await Promise.all(Array.from({ length: 4 }, worker));
  return { bytes, blobs: missing.length };
}

/**
 * Creates a job. With an `idempotencyKey` the POST is retried through gateway restarts: the
 * gateway answers a repeated key with the job it already made, never a second one.
 */
export function createJob(
  api: Api,
  spec: JobSpecInput,
  waitSec = 0,
  idempotencyKey?: string,
): Promise<CreatedJob> {
  const q = waitSec > 0 ? `?wait=${waitSec}` : '';
  const headers: Record<string, string> = idempotencyKey ? { 'Idempotency-Key': idempotencyKey } : {};
  return json(api, `/api/v1/jobs${q}`, { method: 'POST', json: spec, headers }, idempotencyKey !== undefined);
}

export function getJob(api: Api, id: string, waitSec = 0): Promise<JobView> {
  const q = waitSec > 0 ? `?wait=${waitSec}` : '';
  return json(api, `/api/v1/jobs/${encodeURIComponent(id)}${q}`, {}, true);
}

export function cancelJob(api: Api, id: string): Promise<JobView> {
  return json(api, `/api/v1/jobs/${encodeURIComponent(id)}/cancel`, { method: 'POST' }, true);
}

export async function deleteJob(api: Api, id: string): Promise<void> {
  await (await call(api, `/api/v1/jobs/${encodeURIComponent(id)}`, { method: 'DELETE' })).bytes();
}

/** A log line as read. */
export type ReadLine = LogLine;

/** The NDJSON lines of a log answer; a connection cut mid-read is a FarmError ERR_UNREACHABLE. */
async function* ndjson(
  stream: AsyncIterable<unknown>,
  id: string,
  signal?: AbortSignal,
): AsyncGenerator<ReadLine> {
  const dec = new TextDecoder();
  let buf = '';
  const chunks = stream[Symbol.asyncIterator]();
  for (;;) {
    let next: IteratorResult<unknown>;
    try {
      next = await chunks.next();
    } catch (err) {
      if (signal?.aborted) throw err;
      const why = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      throw new FarmError('ERR_UNREACHABLE', `the log of job ${id} broke off (${why})`, { cause: err });
    }
    if (next.done) return;
    buf += dec.decode(next.value as Buffer, { stream: true });
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line.trim()) yield JSON.parse(line) as ReadLine;
    }
  }
}

/**
 * The job's log lines (the whole log from the start; with `follow`, until the job ends). A follow
 * survives a gateway restart: it reconnects and resumes after the last entry it got, so no line is
 * lost or repeated.
 */
export async function* readLogs(
  api: Api,
  id: string,
  follow: boolean,
  signal?: AbortSignal,
): AsyncGenerator<ReadLine> {
  let after = '';
  let progress = Date.now();
  const budgetMs = api.retryMs ?? 60_000;
  for (;;) {
    const q = new URLSearchParams();
    if (follow) q.set('follow', '1');
    if (after) q.set('after', after);
    const path = `/api/v1/jobs/${encodeURIComponent(id)}/logs${q.size ? `?${q}` : ''}`;
    const res = await retrying(() => call(api, path, signal ? { signal } : {}), policy(api, signal));
    let ended = false;
    let got = false;
    try {
      for await (const line of ndjson(res.stream, id, signal)) {
        got = true;
        if ('id' in line) after = line.id;
        progress = Date.now();
        if ('end' in line) ended = true;
        yield line;
      }
    } catch (err) {
      if (signal?.aborted || !isTransient(err)) throw err;
      if (Date.now() - progress > budgetMs) throw err;
      api.onRetry?.(err as Error, 0);
    }
    // The stream closed before the job's end (a gateway restart): follow on from where it stopped.
    if (ended || !follow) return;
    if (Date.now() - progress > budgetMs)
      throw new FarmError('ERR_UNREACHABLE', `the log of job ${id} stopped coming from ${api.base}`);
    if (!got) await new Promise((r) => setTimeout(r, 250)); // closed at once: do not spin
  }
}

/** The tar of a finished job's outputs (from the gateway, or from the store it redirects to). */
export async function downloadOutputs(api: Api, id: string): Promise<Uint8Array> {
  const once = async (): Promise<Uint8Array> => {
    const res = await call(api, `/api/v1/jobs/${encodeURIComponent(id)}/outputs`);
    const location = res.headers.location;
    if (res.status >= 300 && location) {
      res.stream.resume();
      // A presigned URL: sent without the kiln credential.
      return (await call(api, location, { what: 'download of the outputs' })).bytes();
    }
    return res.bytes();
  };
  return retrying(once, policy(api));
}
