/** `kiln logs [-f] JOB` */
import type { Io } from '../command.ts';
import { followToTerminal } from '../follow.ts';
import { apiFor } from '../session.ts';

export async function handler(a: { job: string; follow: boolean }, io: Io): Promise<number> {
  try {
    await followToTerminal(apiFor(io), a.job, io, { follow: a.follow });
  } catch (err) {
    if (io.signal.aborted) return 130;
    throw err;
  }
  return 0;
}
