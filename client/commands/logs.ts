/** `kiln logs [-f] JOB` */
import type { Command } from '../command.ts';
import { followToTerminal } from '../follow.ts';
import { apiFor } from '../session.ts';

export const logs: Command<{ job: string; follow: boolean }> = {
  command: 'logs <job>',
  describe: "print a job's output from the start; with -f, follow it until the job ends",
  positional: { job: { type: 'string', describe: 'job id' } },
  options: {
    follow: {
      type: 'boolean',
      alias: 'f',
      describe: 'keep printing new output until the job ends',
      default: false,
    },
  },
  async handler(a, io) {
    try {
      await followToTerminal(apiFor(io), a.job, io, { follow: a.follow });
    } catch (err) {
      if (io.signal.aborted) return 130;
      throw err;
    }
    return 0;
  },
};
