/**
 * The toolchain and preset endpoints, as `kiln toolchain push|ls|rm` use them. Archives are
 * hashed and uploaded straight from disk, never held in memory.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { isErrorBody } from '../protocol/errors.ts';
import type { PresetList, PresetPut, PresetRecord, ToolchainUploadAnswer } from '../protocol/toolchain.ts';
import { call, FarmError, type Api } from './api.ts';

const JSON_HEADERS = { 'Content-Type': 'application/json' };

/** Bytes done so far of `total`. */
export type Progress = (done: number, total: number) => void;

/** SHA-256 (hex) and size of a file, read as a stream. */
export async function hashFile(path: string): Promise<{ digest: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
    hash.update(chunk);
    size += chunk.length;
  }
  return { digest: hash.digest('hex'), size };
}

/** Size of the toolchain on the farm, or null when the farm does not have it. */
export async function headToolchain(api: Api, digest: string): Promise<number | null> {
  try {
    const res = await call(api, `/api/v1/toolchains/${digest}`, { method: 'HEAD' });
    return Number(res.headers.get('content-length') ?? 0);
  } catch (err) {
    if (err instanceof FarmError && err.status === 404) return null;
    throw err;
  }
}

/** Where to upload an archive (or that the farm has it already). */
export async function requestUpload(api: Api, digest: string, size: number): Promise<ToolchainUploadAnswer> {
  const res = await call(api, `/api/v1/toolchains/${digest}/upload`, {
    method: 'POST',
    headers: JSON_HEADERS,
    body: JSON.stringify({ size }),
  });
  return (await res.json()) as ToolchainUploadAnswer;
}

/**
 * PUTs `file` (`size` bytes) to an upload target from {@link requestUpload}: a gateway path
 * (sent with the kiln credential) or a presigned store URL (sent without it). Returns the bytes
 * sent. The body is streamed from disk with a Content-Length, as S3 requires.
 */
export async function uploadFile(
  api: Api,
  target: { url: string; headers: Record<string, string> },
  file: string,
  size: number,
  onProgress?: Progress,
): Promise<number> {
  const direct = /^https?:\/\//.test(target.url);
  const url = new URL(direct ? target.url : api.base + target.url);
  const headers: Record<string, string> = { 'content-type': 'application/octet-stream' };
  for (const [k, v] of Object.entries(target.headers)) headers[k.toLowerCase()] = v;
  headers['content-length'] = String(size);
  if (!direct && api.token) headers.authorization = `Bearer ${api.token}`;
  let sent = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      sent += chunk.length;
      onProgress?.(sent, size);
      cb(null, chunk);
    },
  });
  const res = await putStream(url, headers, (req) => pipeline(createReadStream(file), meter, req));
  if (res.status >= 200 && res.status < 300) return sent;
  let body: unknown = null;
  try {
    body = JSON.parse(res.body);
  } catch {
    /* a store's XML error, or nothing */
  }
  if (isErrorBody(body))
    throw new FarmError(res.status, body.error.code, `${body.error.message} (${body.error.code})`);
  const where = direct ? 'the object store' : 'the gateway';
  throw new FarmError(
    res.status,
    'ERR_UPLOAD',
    `upload of the toolchain failed: ${where} answered HTTP ${res.status}`,
  );
}

/**
 * One PUT whose body `write` streams into the request. The answer wins over a write error: a
 * server may answer (an error, or "already there") and close before the body is all sent.
 */
function putStream(
  url: URL,
  headers: Record<string, string>,
  write: (req: NodeJS.WritableStream) => Promise<void>,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = request(url, { method: 'PUT', headers });
    let answered = false;
    let writeError: unknown = null;
    req.on('response', (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', (err) => (writeError ??= err));
    req.on('close', () => {
      if (answered) return;
      const why =
        (writeError as { code?: string } | null)?.code ?? (writeError as Error | null)?.message ?? 'closed';
      reject(new FarmError(0, 'ERR_UNREACHABLE', `upload to ${url.origin} failed before an answer (${why})`));
    });
    write(req).catch((err: unknown) => {
      writeError ??= err;
      if (!answered) req.destroy(); // then 'close' rejects with the write error
    });
  });
}

/** Publishes (or replaces) a preset. */
export async function putPreset(api: Api, id: string, body: PresetPut): Promise<PresetRecord> {
  const res = await call(api, `/api/v1/presets/${encodeURIComponent(id)}`, {
    method: 'PUT',
    headers: JSON_HEADERS,
    body: JSON.stringify(body),
  });
  return (await res.json()) as PresetRecord;
}

/** Every preset, sorted by name@platform. */
export async function listPresets(api: Api): Promise<PresetRecord[]> {
  return ((await (await call(api, '/api/v1/presets')).json()) as PresetList).presets;
}

/** Removes a preset; returns what it was. */
export async function deletePreset(api: Api, id: string): Promise<PresetRecord> {
  const res = await call(api, `/api/v1/presets/${encodeURIComponent(id)}`, { method: 'DELETE' });
  return (await res.json()) as PresetRecord;
}

/** Deletes a toolchain archive (refused while a preset names it). */
export async function deleteToolchain(api: Api, digest: string): Promise<void> {
  await call(api, `/api/v1/toolchains/${digest}`, { method: 'DELETE' });
}
