/** The one place where negative Lua return codes become coded errors. */
import { KilnError } from '../protocol/errors.ts';

/** Return codes shared by the scripts in redis/scripts/. */
export const LUA = {
  NO_BUILDER: -1,
  FINISHED: -1,
  BUSY: -2,
  STALE: -2,
  ALREADY_PLACED: -3,
  LEASE_LOST: -4,
  NO_JOB: -5,
} as const;

/** Turns a negative script reply into a KilnError; `what` names the operation for the message. */
export function scriptError(
  what: 'place' | 'start' | 'complete' | 'requeue' | 'cancel' | 'renew',
  code: number,
  subject: string,
): KilnError {
  if (code === LUA.NO_JOB) return new KilnError('ERR_JOB_NOT_FOUND', `no job ${subject}`);
  switch (what) {
    case 'place':
      if (code === LUA.NO_BUILDER)
        return new KilnError('ERR_NO_CAPACITY', `no live builder for platform ${subject}`, { retryAfter: 5 });
      if (code === LUA.BUSY)
        return new KilnError('ERR_NO_CAPACITY', `every ${subject} builder is busy`, { retryAfter: 2 });
      return new KilnError('ERR_CONFLICT', `job ${subject} is already placed`);
    case 'renew':
      return new KilnError('ERR_CONFLICT', `builder ${subject} lost its lease`);
    default:
      if (code === LUA.FINISHED) return new KilnError('ERR_CONFLICT', `job ${subject} has already finished`);
      return new KilnError('ERR_CONFLICT', `job ${subject} was placed again elsewhere (stale attempt)`);
  }
}
