/** The gateway's HTTP API, as the CLI uses it. Every failure becomes a UserError with the server's message. */
import type { CreatedJob, JobSpecInput, JobView, LogLine } from '../protocol/job.ts';
import { isErrorBody } from '../protocol/errors.ts';
import { UserError } from './errors.ts';

export interface Api {
  base: string;
  token: string | null;
}

/** An HTTP failure from the farm, with its code (for fallbacks and messages). */
export class FarmError extends UserError {
  readonly code: string;
  readonly status: number;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.code = code;
    this.status = status;
  }
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
  if (isErrorBody(body))
    throw new FarmError(res.status, body.error.code, `${body.error.message} (${body.error.code})`);
  throw new FarmError(res.status, 'ERR_HTTP', `the gateway answered HTTP ${res.status} for ${path}`);
}

async function json<T>(api: Api, path: string, init: RequestInit = {}): Promise<T> {
  const res = await call(api, path, init);
  return (await res.json()) as T;
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
  }>(api, '/api/v1/blobs/missing', { method: 'POST', headers: JSON_HEADERS, body: JSON.stringify(ask) });
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
      if (/^https?:/.test(up.url)) {
        const res = await fetch(up.url, init); // presigned: no kiln credential goes to the store
        if (!res.ok)
          throw new FarmError(
            res.status,
            'ERR_UPLOAD',
            `upload of blob ${d.slice(0, 12)} failed: HTTP ${res.status}`,
          );
      } else {
        await call(api, up.url, init);
      }
      bytes += body.byteLength;
    }
  };
  await Promise.all(Array.from({ length: 4 }, worker));
  return { bytes, blobs: missing.length };
}

export function createJob(api: Api, spec: JobSpecInput, waitSec = 0): Promise<CreatedJob> {
  const q = waitSec > 0 ? `?wait=${waitSec}` : '';
  return json(api, `/api/v1/jobs${q}`, { method: 'POST', headers: JSON_HEADERS, body: JSON.stringify(spec) });
}

export function getJob(api: Api, id: string, waitSec = 0): Promise<JobView> {
  const q = waitSec > 0 ? `?wait=${waitSec}` : '';
  return json(api, `/api/v1/jobs/${encodeURIComponent(id)}${q}`);
}

export function cancelJob(api: Api, id: string): Promise<JobView> {
  return json(api, `/api/v1/jobs/${encodeURIComponent(id)}/cancel`, { method: 'POST' });
}

export async function deleteJob(api: Api, id: string): Promise<void> {
  await call(api, `/api/v1/jobs/${encodeURIComponent(id)}`, { method: 'DELETE' });
}

/** The job's log lines (the whole log from the start; with `follow`, until the job ends). */
export async function* readLogs(
  api: Api,
  id: string,
  follow: boolean,
  signal?: AbortSignal,
): AsyncGenerator<LogLine | { restart: number }> {
  const res = await call(
    api,
    `/api/v1/jobs/${encodeURIComponent(id)}/logs${follow ? '?follow=1' : ''}`,
    signal ? { signal } : {},
  );
  if (!res.body) return;
  const dec = new TextDecoder();
  let buf = '';
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line.trim()) yield JSON.parse(line) as LogLine | { restart: number };
    }
  }
}

/** The tar of a finished job's outputs. */
export async function downloadOutputs(api: Api, id: string): Promise<Uint8Array> {
  let res = await call(api, `/api/v1/jobs/${encodeURIComponent(id)}/outputs`, { redirect: 'manual' });
  const location = res.headers.get('location');
  if (res.status === 302 && location) {
    res = await fetch(location); // a presigned URL: no kiln credential goes to the store
    if (!res.ok)
      throw new FarmError(res.status, 'ERR_DOWNLOAD', `download of the outputs failed: HTTP ${res.status}`);
  }
  return new Uint8Array(await res.arrayBuffer());
}
