/**
 * Conversion between a job's Redis hash and {@link JobRecord}. Inline files are kept as bytes:
 * `inline` lists them (path, size, executable) and `inlineData` holds their bytes one after the
 * other, a binary field written and read with ioredis' Buffer commands (never base64, never JSON).
 */
import type { JobRecord, JobResultFields, NewJob } from '../protocol/farm.ts';
import type { InlineInput, JobState } from '../protocol/job.ts';

/** How `inline` lists a file whose bytes are in `inlineData`. */
interface InlineEntry {
  path: string;
  size: number;
  executable: boolean;
  /** Jobs written by gateways before `inlineData` carried the bytes here, as base64. */
  data?: string;
}

/** The bytes of `parts` as one Buffer (no copy for a single part). */
function joined(parts: Uint8Array[]): Buffer {
  if (parts.length === 1) return Buffer.from(parts[0]!.buffer, parts[0]!.byteOffset, parts[0]!.byteLength);
  return Buffer.concat(parts);
}

/** The hash fields of a new job (`inlineData` binary). */
export function newJobFields(rec: NewJob): Record<string, string | Buffer> {
  const extra: Record<string, string | Buffer> = {};
  if (rec.action) extra.action = rec.action;
  if (rec.cacheScope) extra.cacheScope = rec.cacheScope;
  // Inline files (the fast path's preprocessed source) live in their own fields: only the builder
  // reads them, and every status read of the gateway skips them.
  const { inline, ...spec } = rec.spec;
  if (inline) {
    const entries: InlineEntry[] = inline.map((f) => ({
      path: f.path,
      size: f.data.byteLength,
      executable: f.executable,
    }));
    extra.inline = JSON.stringify(entries);
    extra.inlineData = joined(inline.map((f) => f.data));
  }
  return {
    ...extra,
    id: rec.id,
    spec: JSON.stringify(spec),
    state: 'queued',
    attempt: '1',
    bid: rec.bid,
    sub: rec.sub,
    tenant: rec.tenant,
    createdAt: rec.createdAt,
  };
}

function json<T>(raw: string | undefined, fallback: T): T {
  if (raw === undefined || raw === '') return fallback;
  return JSON.parse(raw) as T;
}

/** Every field but `inline` and `inlineData`: what status reads fetch. */
export const STATUS_FIELDS = [
  'id',
  'spec',
  'state',
  'attempt',
  'bid',
  'sub',
  'tenant',
  'createdAt',
  'startedAt',
  'finishedAt',
  'exitCode',
  'signal',
  'error',
  'outputs',
  'missingOutputs',
  'rejectedOutputs',
  'logTruncated',
  'cancel',
  'action',
  'cacheScope',
  'result',
  'signature',
] as const;

/**
 * The status fields a job's completion publishes with its `done` event (complete-job-2.lua, as the
 * Lua table `DONE_FIELDS`): all but the spec, which never changes and which every waiter has.
 */
export const DONE_FIELDS = STATUS_FIELDS.filter((f) => f !== 'spec');

/** The Lua line that defines `DONE_FIELDS` in front of every script (redis/scripts.ts). */
export function luaDoneFields(): string {
  return `local DONE_FIELDS = { ${DONE_FIELDS.map((f) => `'${f}'`).join(', ')} } `;
}

/**
 * The record of a finished job from the status its `done` event carried (the JSON array of
 * {@link DONE_FIELDS}' values, false for a missing one) and the job's spec; null when the text is
 * not such an array or names no finished job.
 */
export function parseDoneStatus(text: string, spec: JobRecord['spec']): JobRecord | null {
  let values: unknown;
  try {
    values = JSON.parse(text);
  } catch {
    return null;
  }
  if (!Array.isArray(values) || values.length !== DONE_FIELDS.length) return null;
  return fromHash(hashOf(DONE_FIELDS, values), spec);
}

/** HMGET values of {@link STATUS_FIELDS} as a hash object (missing fields left out). */
export function statusHash(values: (string | null)[]): Record<string, string> {
  return hashOf(STATUS_FIELDS, values);
}

/** `fields` paired with `values` (one each, in order), the ones that are not strings left out. */
function hashOf(fields: readonly string[], values: readonly unknown[]): Record<string, string> {
  const h: Record<string, string> = {};
  fields.forEach((f, i) => {
    const v = values[i];
    if (typeof v === 'string') h[f] = v;
  });
  return h;
}

/** The inline files of a hash: views into `data` (or decoded base64 of an older gateway's job). */
function inlineFiles(list: string, data: Buffer | undefined): InlineInput[] {
  let at = 0;
  return (JSON.parse(list) as InlineEntry[]).map((e) => {
    const bytes =
      e.data !== undefined
        ? Buffer.from(e.data, 'base64')
        : (data ?? Buffer.alloc(0)).subarray(at, (at += e.size));
    return { path: e.path, data: bytes, executable: e.executable };
  });
}

/**
 * Parses a job hash; null for an empty (missing) hash. With an `inline` field, the spec gets its
 * inline files back, their bytes from `inlineData` (read as a Buffer: see {@link bufferHash}).
 */
export function parseJobHash(h: Record<string, string>, inlineData?: Buffer): JobRecord | null {
  if (!h.id || !h.spec || !h.state) return null;
  const spec = JSON.parse(h.spec) as JobRecord['spec'];
  if (h.inline) spec.inline = inlineFiles(h.inline, inlineData);
  return fromHash(h, spec);
}

/** A job record from its hash fields and its (parsed) spec; null without an id or state. */
function fromHash(h: Record<string, string>, spec: JobRecord['spec']): JobRecord | null {
  if (!h.id || !h.state) return null;
  return {
    id: h.id,
    spec,
    state: h.state as JobState,
    attempt: Number(h.attempt ?? 1),
    bid: h.bid ?? '',
    sub: h.sub ?? '',
    tenant: h.tenant ?? '',
    createdAt: h.createdAt ?? '',
    startedAt: h.startedAt || null,
    finishedAt: h.finishedAt || null,
    exitCode: h.exitCode === undefined || h.exitCode === '' ? null : Number(h.exitCode),
    signal: h.signal || null,
    error: json(h.error, null),
    outputs: json(h.outputs, null),
    missingOutputs: json(h.missingOutputs, []),
    rejectedOutputs: json(h.rejectedOutputs, []),
    logTruncated: h.logTruncated === '1',
    cancelRequested: h.cancel === '1',
    action: h.action || null,
    cacheScope: h.cacheScope || null,
    result: json(h.result, null),
    signature: json(h.signature, null),
  };
}

/**
 * A hash read with a Buffer command (HGETALL's field, value, … or its object form) as text fields
 * and the binary `inlineData`, for {@link parseJobHash}.
 */
export function bufferHash(reply: Buffer[] | Record<string, Buffer>): {
  fields: Record<string, string>;
  inlineData: Buffer | undefined;
} {
  const fields: Record<string, string> = {};
  let inlineData: Buffer | undefined;
  const put = (k: string, v: Buffer): void => {
    if (k === 'inlineData') inlineData = v;
    else fields[k] = v.toString('utf8');
  };
  if (Array.isArray(reply))
    for (let i = 0; i + 1 < reply.length; i += 2) put(reply[i]!.toString(), reply[i + 1]!);
  else for (const [k, v] of Object.entries(reply)) put(k, v);
  return { fields, inlineData };
}

/** Flattens result fields into field/value pairs for complete-job-2.lua. */
export function resultPairs(r: JobResultFields): string[] {
  return [
    'state',
    r.state,
    'exitCode',
    r.exitCode === null ? '' : String(r.exitCode),
    'signal',
    r.signal ?? '',
    'error',
    r.error ? JSON.stringify(r.error) : '',
    'outputs',
    r.outputs ? JSON.stringify(r.outputs) : '',
    'missingOutputs',
    JSON.stringify(r.missingOutputs),
    'rejectedOutputs',
    JSON.stringify(r.rejectedOutputs),
    'logTruncated',
    r.logTruncated ? '1' : '0',
    'finishedAt',
    r.finishedAt,
    ...(r.result ? ['result', JSON.stringify(r.result)] : []),
    ...(r.signature ? ['signature', JSON.stringify(r.signature)] : []),
    ...(r.trace ? ['trace', JSON.stringify(r.trace)] : []),
  ];
}
