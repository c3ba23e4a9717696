/** The exit code a finished job maps to, as a shell would report it. */
import type { JobView } from '../../protocol/job.ts';

const SIGNALS: Record<string, number> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGABRT: 6,
  SIGKILL: 9,
  SIGSEGV: 11,
  SIGPIPE: 13,
  SIGTERM: 15,
};

export function exitCodeOf(job: JobView): number {
  if (job.exitCode !== null) return job.exitCode;
  if (job.state === 'timed_out') return 124;
  if (job.signal) return 128 + (SIGNALS[job.signal] ?? 1);
  if (job.state === 'killed') return 137;
  return job.state === 'succeeded' || job.state === 'cached' ? 0 : 1;
}
