/** Long-poll: the job once it has finished, or as it is when `waitSec` has passed. */
import type { FarmState } from '../protocol/gateway-port.ts';
import type { JobRecord } from '../protocol/farm.ts';
import { isFinished } from './job-view.ts';

export async function waitForJob(
  farm: FarmState,
  rec: JobRecord,
  waitSec: number,
  signal?: AbortSignal,
): Promise<JobRecord> {
  if (waitSec <= 0 || isFinished(rec)) return rec;
  const deadline = Date.now() + waitSec * 1000;
  const listener = await farm.listenJob(rec.id);
  try {
    let current: JobRecord | null = rec;
    for (;;) {
      current = await farm.getJob(rec.id);
      if (!current || isFinished(current)) return current ?? rec;
      const left = deadline - Date.now();
      if (left <= 0 || signal?.aborted) return current;
      await listener.next(left, signal);
    }
  } finally {
    listener.close();
  }
}
