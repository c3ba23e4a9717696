/** `kiln stop JOB` */
import { cancelJob, getJob } from '../api.ts';
import { say, type Command } from '../command.ts';
import { apiFor } from '../session.ts';

export const stop: Command<{ job: string; json: boolean; wait: boolean }> = {
  command: 'stop <job>',
  describe: 'stop a job: SIGTERM to all of it, then SIGKILL after its grace period',
  positional: { job: { type: 'string', describe: 'job id' } },
  options: {
    json: { type: 'boolean', describe: 'print the job as JSON', default: false },
    wait: { type: 'boolean', describe: 'wait until the job has ended', default: true },
  },
  async handler(a, io) {
    const api = apiFor(io);
    let job = await cancelJob(api, a.job);
    while (a.wait && (job.state === 'queued' || job.state === 'running')) job = await getJob(api, a.job, 30);
    say(io.stdout, a.json ? JSON.stringify(job) : `${job.id}  ${job.state}`);
    return 0;
  },
};
