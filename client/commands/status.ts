/** `kiln status JOB` */
import { getJob } from '../api.ts';
import { say, type Command } from '../command.ts';
import { apiFor } from '../session.ts';

export const status: Command<{ job: string; json: boolean; wait: number }> = {
  command: 'status <job>',
  describe: "show a job's state",
  positional: { job: { type: 'string', describe: 'job id' } },
  options: {
    json: { type: 'boolean', describe: 'print the job as JSON', default: false },
    wait: { type: 'number', describe: 'wait up to this many seconds for the job to finish', default: 0 },
  },
  async handler(a, io) {
    const job = await getJob(apiFor(io), a.job, a.wait);
    if (a.json) {
      say(io.stdout, JSON.stringify(job));
      return 0;
    }
    say(io.stdout, `${job.id}  ${job.state}${job.exitCode !== null ? ` (exit ${job.exitCode})` : ''}`);
    say(io.stdout, `  command  ${job.argv.join(' ')}`);
    say(io.stdout, `  builder  ${job.builder ?? '-'} (attempt ${job.attempt})`);
    say(io.stdout, `  created  ${job.createdAt}${job.finishedAt ? `, finished ${job.finishedAt}` : ''}`);
    if (job.error) say(io.stdout, `  error    ${job.error.message} (${job.error.code})`);
    return 0;
  },
};
