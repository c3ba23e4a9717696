/** `kiln status JOB` */
import { getJob } from '../api.ts';
import { say, type Io } from '../command.ts';
import { apiFor } from '../session.ts';

export async function handler(a: { job: string; json: boolean; wait: number }, io: Io): Promise<number> {
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
}
