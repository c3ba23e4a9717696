/** The gateway's HTTP API, as the CLI uses it. Every failure becomes a UserError with the server's message. */
import type { CreatedJob, JobSpecInput, JobView, LogLine } from '../protocol/job.ts';
import { isErrorBody } from '../protocol/errors.ts';
import { UserError } from './errors.ts';
import { isTransient, retrying, type RetryPolicy } from './retry.ts';

export interface Api {
  base: string;
  token: string | null;
  /** How long idempotent calls are retried through gateway restarts and 503s. @default 60000 */
  retryMs?: number;
  /** Told about each retry (the CLI prints a notice on stderr). */
  onRetry?(err: Error, delayMs: number): void;
}

/** An HTTP failure from the farm, with its code (for fallbacks and messages). */
export class FarmError extends UserError {
  readonly code: string;
  readonly status: number;
  /** Seconds the gateway asked to wait before retrying (Retry-After), if it said. */
  readonly retryAfter: number | undefined;
  constructor(status: number, code: string, message: string, retryAfter?: number) {
    super(message);
    this.code = code;
    this.status = status;
    this.retryAfter = retryAfter;
  }
}

/** The retry policy of `api` (see client/retry.ts). */
function policy(api: Api, signal?: AbortSignal): RetryPolicy {
  return {
    budgetMs: api.retryMs ?? 60_000,
    ...(signal ? { signal } : {}),
    ...(api.onRetry ? { onRetry: api.onRetry } : {}),
  };
}

/** A cut connection while reading a body, in the CLI's terms. */
function cut(api: Api, err: unknown): unknown {
  if (err instanceof TypeError && /terminated|other side closed/i.test(err.message))
    return new FarmError(0, 'ERR_UNREACHABLE', `the connection to the kiln gateway at ${api.base} was cut`);
  return err;
}

function headers(api: Api, extra: Record<string, string> = {}): Record<string, string> {
  return api.token ? { Authorization: `Bearer ${api.token}`, ...extra } : extra;
}

/** fetch with a clear message when the gateway cannot be reached. */
export async function call(api: Api, path: string, init: RequestInit = {}): Promise<Response> {
  let res: Response;
  const url = path.startsWith('http') ? path : api.base + path;
  try {
    res = await fetch(url, {
      ...init,
      headers: headers(api, (init.headers as Record<string, string>) ?? {}),
    });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; errors?: { code?: string }[] } }).cause;
    const why =
      cause?.code ??
      cause?.errors?.[0]?.code ??
      (cause as Error | undefined)?.message ??
      (err as Error).message;
    throw new FarmError(
      0,
      'ERR_UNREACHABLE',
      `cannot reach the kiln gateway at ${api.base} (${why}); is it running? (kiln dev prints the address)`,
    );
  }
  if (res.ok || res.status === 302) return res;
  let body: unknown = null;
  try {
    body = await res.json();
  } catch {
    /* not JSON */
  }
  const after = Number(res.headers.get('retry-after') ?? NaN);
  const retryAfter = Number.isFinite(after) && after >= 0 ? after : undefined;
  if (isErrorBody(body))
    throw new FarmError(
      res.status,
      body.error.code,
      `${body.error.message} (${body.error.code})`,
      retryAfter,
    );
  throw new FarmError(
    res.status,
    'ERR_HTTP',
    `the gateway answered HTTP ${res.status} for ${path}`,
    retryAfter,
  );
}

/**
 * A JSON call; `idempotent` ones (reads, and writes that are safe to repeat) are retried through
 * gateway restarts and 503s, the body read included.
 */
async function json<T>(api: Api, path: string, init: RequestInit = {}, idempotent = false): Promise<T> {
  const once = async (): Promise<T> => {
    const res = await call(api, path, init);
    try {
      return (await res.json()) as T;
    } catch (err) {
      throw cut(api, err);
    }
  };
  return idempotent ? retrying(once, policy(api, init.signal ?? undefined)) : once();
}

const JSON_HEADERS = { 'Content-Type': 'application/json' };

/** A blob the client may upload; `read` is called only when the farm lacks it. */
export interface LocalBlob {
  digest: string;
  size: number;
  read(): Promise<Uint8Array>;
}

/** Uploads the blobs the farm lacks (a few at a time); returns what was sent. */
export async function uploadMissing(api: Api, blobs: LocalBlob[]): Promise<{ bytes: number; blobs: number }> {
  const ask = { blobs: blobs.map((b) => ({ digest: b.digest, size: b.size })) };
  const { missing, uploads } = await json<{
    missing: string[];
    uploads: Record<string, { method: string; url: string; headers: Record<string, string> }>;
  }>(
    api,
    '/api/v1/blobs/missing',
    { method: 'POST', headers: JSON_HEADERS, body: JSON.stringify(ask) },
    true,
  );
  const byDigest = new Map(blobs.map((b) => [b.digest, b]));
  let bytes = 0;
  const queue = [...missing];
  const worker = async (): Promise<void> => {
    for (let d = queue.shift(); d !== undefined; d = queue.shift()) {
      const blob = byDigest.get(d);
      const up = uploads[d];
      if (!blob || !up) continue;
      const body = (await blob.read()) as Uint8Array<ArrayBuffer>;
      const init: RequestInit = {
        method: up.method,
        body,
        headers: { 'Content-Type': 'application/octet-stream', ...up.headers },
      };
      // Content-addressed: an upload may be repeated as often as it takes.
      await retrying(async () => {
        if (/^https?:/.test(up.url)) {
          const res = await fetch(up.url, init).catch((err: unknown) => {
            throw new FarmError(0, 'ERR_UPLOAD', `upload of blob ${d.slice(0, 12)} failed: ${String(err)}`);
          }); // presigned: no kiln credential goes to the store
          if (!res.ok)
            throw new FarmError(
              res.status,
              'ERR_UPLOAD',
              `upload of blob ${d.slice(0, 12)} failed: HTTP ${res.status}`,
            );
        } else {
          await call(api, up.url, init);
        }
      }, policy(api));
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
  const headers = idempotencyKey ? { ...JSON_HEADERS, 'Idempotency-Key': idempotencyKey } : JSON_HEADERS;
  return json(
    api,
    `/api/v1/jobs${q}`,
    { method: 'POST', headers, body: JSON.stringify(spec) },
    idempotencyKey !== undefined,
  );
}

export function getJob(api: Api, id: string, waitSec = 0): Promise<JobView> {
  const q = waitSec > 0 ? `?wait=${waitSec}` : '';
  return json(api, `/api/v1/jobs/${encodeURIComponent(id)}${q}`, {}, true);
}

export function cancelJob(api: Api, id: string): Promise<JobView> {
  return json(api, `/api/v1/jobs/${encodeURIComponent(id)}/cancel`, { method: 'POST' }, true);
}

export async function deleteJob(api: Api, id: string): Promise<void> {
  await call(api, `/api/v1/jobs/${encodeURIComponent(id)}`, { method: 'DELETE' });
}

/** A log line as read. */
export type ReadLine = LogLine;

async function* ndjson(body: ReadableStream<Uint8Array>): AsyncGenerator<ReadLine> {
  const dec = new TextDecoder();
  let buf = '';
  const reader = body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
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
  for (;;) {
    const q = new URLSearchParams();
    if (follow) q.set('follow', '1');
    if (after) q.set('after', after);
    const path = `/api/v1/jobs/${encodeURIComponent(id)}/logs${q.size ? `?${q}` : ''}`;
    const res = await retrying(() => call(api, path, signal ? { signal } : {}), policy(api, signal));
    if (!res.body) return;
    let ended = false;
    let got = false;
    try {
      for await (const line of ndjson(res.body)) {
        got = true;
        if ('id' in line) after = line.id;
        progress = Date.now();
        if ('end' in line) ended = true;
        yield line;
      }
    } catch (err) {
      const e = cut(api, err);
      if (signal?.aborted || !isTransient(e)) throw e;
      if (Date.now() - progress > (api.retryMs ?? 60_000)) throw e;
      api.onRetry?.(e as Error, 0);
    }
    // The stream closed before the job's end (a gateway restart): follow on from where it stopped.
    if (ended || !follow) return;
    if (Date.now() - progress > (api.retryMs ?? 60_000))
      throw new FarmError(0, 'ERR_UNREACHABLE', `the log of job ${id} stopped coming from ${api.base}`);
    if (!got) await new Promise((r) => setTimeout(r, 250)); // closed at once: do not spin
  }
}

/** The tar of a finished job's outputs. */
export async function downloadOutputs(api: Api, id: string): Promise<Uint8Array> {
  let res = await retrying(
    () => call(api, `/api/v1/jobs/${encodeURIComponent(id)}/outputs`, { redirect: 'manual' }),
    policy(api),
  );
  const location = res.headers.get('location');
  if (res.status === 302 && location) {
    res = await fetch(location); // a presigned URL: no kiln credential goes to the store
    if (!res.ok)
      throw new FarmError(res.status, 'ERR_DOWNLOAD', `download of the outputs failed: HTTP ${res.status}`);
  }
  return new Uint8Array(await res.arrayBuffer());
}
