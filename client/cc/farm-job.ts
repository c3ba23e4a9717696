/** One kiln cc job on the farm: create it (one round trip) and wait for it; farm failures are FarmErrors. */
import { createHash } from 'node:crypto';
import type { CreatedJob, JobView } from '../../protocol/job.ts';
import { encodeJobBody, JOB_BODY_TYPE } from '../../protocol/job-body.ts';
import { FarmError } from '../errors.ts';
import { callJson, type Api } from '../http.ts';
import type { CcSettings } from './settings.ts';
import type { FallbackReason } from './stats.ts';
import { verifyJobResult } from '../verify-result.ts';

/** How `kiln stats` counts a farm failure that made a compile fall back to local. */
export function fallbackReason(err: FarmError): FallbackReason {
  if (err.code === 'ERR_NO_CAPACITY') return 'no capacity';
  if (err.code === 'ERR_UNREACHABLE') return 'unreachable';
  if (err.code === 'ERR_TIMEOUT') return 'timeout';
  if (err.httpStatus >= 500) return '5xx';
  return 'other';
}

/** A result refused for its signature: kiln cc stops there (exit 1) instead of compiling locally. */
export function isSignatureRefusal(err: unknown): err is FarmError {
  return err instanceof FarmError && (err.code === 'ERR_BAD_SIGNATURE' || err.code === 'ERR_UNKNOWN_SIGNER');
}

/** A job to send: its spec, the inline files as bytes (sent in a binary job body, never as base64). */
export type CcJobSpec = Record<string, unknown> & { inline?: { path: string; data: Uint8Array }[] };

/** The request body of `spec`: JSON without inline files, else the binary job body (protocol/job-body.ts). */
function bodyOf(spec: CcJobSpec): { body: Buffer; headers: Record<string, string> } {
  const { inline, ...rest } = spec;
  if (!inline)
    return { body: Buffer.from(JSON.stringify(rest)), headers: { 'content-type': 'application/json' } };
  const files = inline.map((f) => ({
    path: f.path,
    data: f.data,
    digest: createHash('sha256').update(f.data).digest('hex'),
  }));
  return { body: Buffer.concat(encodeJobBody(rest, files)), headers: { 'content-type': JOB_BODY_TYPE } };
}

/** One job on the farm: the finished, signature-checked job view (a cache hit or a finished run) and its action key. */
export async function runJob(
  api: Api,
  spec: CcJobSpec,
  s: CcSettings,
): Promise<{ job: JobView; action: string | null }> {
  const deadline = Date.now() + s.timeoutSec * 1000;
  const created = await callJson<CreatedJob>(api, `/api/v1/jobs?wait=${Math.min(60, s.timeoutSec)}`, {
    method: 'POST',
    ...bodyOf(spec),
    timeoutMs: s.timeoutSec * 1000,
  });
  const jobApi: Api = { ...api, token: created.token };
  let job: JobView = created.job;
  while (job.state === 'queued' || job.state === 'running') {
    if (Date.now() > deadline)
      throw new FarmError('ERR_TIMEOUT', `the farm did not finish within ${s.timeoutSec} s`);
    job = await callJson<JobView>(jobApi, `/api/v1/jobs/${job.id}?wait=30`, { timeoutMs: 40_000 });
  }
  if (job.error) throw FarmError.ofJob(job.error);
  if (!job.result || job.exitCode === null)
    throw new FarmError('ERR_UPSTREAM', `the job ended ${job.state} without a result`);
  const action = created.action ?? null;
  // Before any of it is used: the builder's signature (ERR_BAD_SIGNATURE / ERR_UNKNOWN_SIGNER refuse the compile).
  await verifyJobResult(job, { action }, s.verifySigner);
  return { job, action };
}
