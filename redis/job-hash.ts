/** Conversion between a job's Redis hash and {@link JobRecord}. */
import type { JobRecord, JobResultFields, NewJob } from '../protocol/farm.ts';
import type { JobState } from '../protocol/job.ts';

/** The hash fields of a new job. */
export function newJobFields(rec: NewJob): Record<string, string> {
  const extra: Record<string, string> = {};
  if (rec.action) extra.action = rec.action;
  if (rec.cacheScope) extra.cacheScope = rec.cacheScope;
  // Inline files (the fast path's preprocessed source) live in their own field: only the builder
  // reads them, and every status read of the gateway skips them.
  const { inline, ...spec } = rec.spec;
  if (inline) extra.inline = JSON.stringify(inline);
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

/** Every field but `inline`: what status reads fetch. */
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

/** HMGET values of {@link STATUS_FIELDS} as a hash object (missing fields left out). */
export function statusHash(values: (string | null)[]): Record<string, string> {
  const h: Record<string, string> = {};
  STATUS_FIELDS.forEach((f, i) => {
    const v = values[i];
    if (v !== null && v !== undefined) h[f] = v;
  });
  return h;
}

/** Parses a job hash; null for an empty (missing) hash. With an `inline` field, the spec gets its inline files back. */
export function parseJobHash(h: Record<string, string>): JobRecord | null {
  if (!h.id || !h.spec || !h.state) return null;
  return {
    id: h.id,
    spec: (h.inline
      ? { ...JSON.parse(h.spec), inline: JSON.parse(h.inline) }
      : JSON.parse(h.spec)) as JobRecord['spec'],
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
