/**
 * The ONE table of negative replies of the scripts in redis/scripts/, each with exactly one
 * meaning across every script, and the ONE function that turns them into coded errors (the way
 * bullmq's error-code.ts and finishedErrors() do). The loader (redis/scripts.ts) hands the table to
 * every script as the Lua table `E`, so a script says `return E.NO_JOB`, never a number.
 */
import { KilnError } from '../protocol/errors.ts';

/** Negative script replies; a script's header lists which of them it returns. */
export const SCRIPT_ERRORS = {
  /** The job hash does not exist (never created, deleted or expired). */
  NO_JOB: -1,
  /** The job already reached a final state. */
  JOB_FINISHED: -2,
  /** The attempt or builder is not the job's current one (it was placed again elsewhere). */
  STALE_ATTEMPT: -3,
  /** No live, non-draining builder of the platform. */
  NO_BUILDER: -4,
  /** Every live builder of the platform is full. */
  ALL_BUSY: -5,
  /** The job already holds a slot. */
  ALREADY_PLACED: -6,
  /** The builder's lease had expired or was removed. */
  LEASE_LOST: -7,
  /** The tenant created jobs faster than its policy allows. */
  RATE_LIMITED: -8,
  /** The tenant already has as many jobs in flight as its policy allows. */
  IN_FLIGHT_FULL: -9,
} as const;

export type ScriptErrorName = keyof typeof SCRIPT_ERRORS;

/** The positive reply of a script that did what it was asked (compare-and-set scripts answer 0 otherwise). */
export const SCRIPT_DONE = 1;

/** What the failed call was about, for the message. */
export interface ScriptSubject {
  job?: string;
  platform?: string;
  builder?: string;
  tenant?: string;
  /** For RATE_LIMITED: when a creation would be admitted again. */
  retryAfterMs?: number;
  /** For IN_FLIGHT_FULL: the tenant's cap. */
  cap?: number;
}

/** True when a script's reply is one of {@link SCRIPT_ERRORS}. */
export function isScriptError(reply: unknown): reply is number {
  return typeof reply === 'number' && reply < 0;
}

/** Turns a negative script reply into its KilnError. */
export function scriptError(code: number, s: ScriptSubject): KilnError {
  const job = `job ${s.job ?? '?'}`;
  switch (code) {
    case SCRIPT_ERRORS.NO_JOB:
      return new KilnError('ERR_JOB_NOT_FOUND', `no ${job}`);
    case SCRIPT_ERRORS.JOB_FINISHED:
      return new KilnError('ERR_CONFLICT', `${job} has already finished`);
    case SCRIPT_ERRORS.STALE_ATTEMPT:
      return new KilnError('ERR_CONFLICT', `${job} was placed again elsewhere (stale attempt)`);
    case SCRIPT_ERRORS.NO_BUILDER:
      return new KilnError('ERR_NO_CAPACITY', `no live builder for platform ${s.platform}`, {
        retryAfter: 5,
      });
    case SCRIPT_ERRORS.ALL_BUSY:
      return new KilnError('ERR_NO_CAPACITY', `every ${s.platform} builder is busy`, { retryAfter: 2 });
    case SCRIPT_ERRORS.ALREADY_PLACED:
      return new KilnError('ERR_CONFLICT', `${job} is already placed`);
    case SCRIPT_ERRORS.LEASE_LOST:
      return new KilnError('ERR_CONFLICT', `builder ${s.builder} lost its lease`);
    case SCRIPT_ERRORS.RATE_LIMITED:
      return new KilnError('ERR_RATE_LIMITED', `tenant ${s.tenant} creates jobs faster than its limit`, {
        retryAfter: Math.max(1, Math.ceil((s.retryAfterMs ?? 1000) / 1000)),
      });
    case SCRIPT_ERRORS.IN_FLIGHT_FULL:
      return new KilnError(
        'ERR_RATE_LIMITED',
        `tenant ${s.tenant} already has ${s.cap} jobs queued or running (its maximum); wait for one to finish`,
        { retryAfter: 2 },
      );
    default:
      return new KilnError('ERR_INTERNAL', `unknown script reply ${code}`);
  }
}

/** The reply itself, or the KilnError its negative code means, thrown. */
export function checkReply<T>(reply: T, s: ScriptSubject): T {
  if (isScriptError(reply)) throw scriptError(reply, s);
  return reply;
}

/** The Lua preamble that gives every script the table as `E` (one line, so line numbers hold). */
export function luaErrorTable(): string {
  const fields = Object.entries(SCRIPT_ERRORS).map(([k, v]) => `${k} = ${v}`);
  return `local E = { ${fields.join(', ')} } `;
}
