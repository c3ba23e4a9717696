/** The public view of a job record. */
import type { JobView } from '../protocol/job.ts';
import { TERMINAL_STATES } from '../protocol/job.ts';
import type { JobRecord } from '../protocol/farm.ts';

export function toJobView(r: JobRecord): JobView {
  return {
    id: r.id,
    state: r.state,
    platform: r.spec.platform,
    argv: r.spec.argv,
    attempt: r.attempt,
    builder: r.bid || null,
    createdAt: r.createdAt,
    startedAt: r.startedAt,
    finishedAt: r.finishedAt,
    exitCode: r.exitCode,
    signal: r.signal,
    error: r.error,
    outputs: r.outputs,
    missingOutputs: r.missingOutputs,
    rejectedOutputs: r.rejectedOutputs,
    limits: r.spec.limits,
    logTruncated: r.logTruncated,
    ...(r.result ? { result: r.result } : {}),
  };
}

export function isFinished(r: JobRecord): boolean {
  return TERMINAL_STATES.has(r.state);
}
