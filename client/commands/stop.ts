/** `kiln stop JOB` */
import { cancelJob, getJob } from '../api.ts';
import { say, type Io } from '../command.ts';
import { apiFor } from '../session.ts';

export async function handler(a: { job: string; json: boolean; wait: boolean }, io: Io): Promise<number> {
  const api = apiFor(io);
  let job = await cancelJob(api, a.job);
  while (a.wait && (job.state === 'queued' || job.state === 'running')) job = await getJob(api, a.job, 30);
  say(io.stdout, a.json ? JSON.stringify(job) : `${job.id}  ${job.state}`);
  return 0;
}
