/**
 * The toolchain and preset endpoints, as `kiln toolchain push|ls|rm` use them. Archives are
 * hashed and uploaded straight from disk, never held in memory.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { PresetList, PresetPut, PresetRecord, ToolchainUploadAnswer } from '../protocol/toolchain.ts';
import { FarmError } from './errors.ts';
import { call, callJson, type Api } from './http.ts';

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
    res.stream.resume();
    return Number(res.headers['content-length'] ?? 0);
  } catch (err) {
    if (err instanceof FarmError && err.httpStatus === 404) return null;
    throw err;
  }
}

/** Where to upload an archive (or that the farm has it already). */
export function requestUpload(api: Api, digest: string, size: number): Promise<ToolchainUploadAnswer> {
  return callJson(api, `/api/v1/toolchains/${digest}/upload`, { method: 'POST', json: { size } });
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
  let sent = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      sent += chunk.length;
      onProgress?.(sent, size);
      cb(null, chunk);
    },
  });
  const res = await call(api, target.url, {
    method: 'PUT',
    headers: {
      'content-type': 'application/octet-stream',
      ...target.headers,
      'content-length': String(size),
    },
    write: (req) => pipeline(createReadStream(file), meter, req),
    what: 'upload of the toolchain',
  });
  await res.bytes();
  return sent;
}

/** Publishes (or replaces) a preset. */
export function putPreset(api: Api, id: string, body: PresetPut): Promise<PresetRecord> {
  return callJson(api, `/api/v1/presets/${encodeURIComponent(id)}`, { method: 'PUT', json: body });
}

/** Every preset, sorted by name@platform. */
export async function listPresets(api: Api): Promise<PresetRecord[]> {
  return (await callJson<PresetList>(api, '/api/v1/presets')).presets;
}

/** Removes a preset; returns what it was. */
export function deletePreset(api: Api, id: string): Promise<PresetRecord> {
  return callJson(api, `/api/v1/presets/${encodeURIComponent(id)}`, { method: 'DELETE' });
}

/** Deletes a toolchain archive (refused while a preset names it). */
export async function deleteToolchain(api: Api, digest: string): Promise<void> {
  await (await call(api, `/api/v1/toolchains/${digest}`, { method: 'DELETE' })).bytes();
}
