/** Long-poll: the job once it has finished, or as it is when `waitSec` has passed. */
import type { FarmState } from '../protocol/gateway-port.ts';
import type { EventListener, JobRecord } from '../protocol/farm.ts';
import { isFinished } from './job-view.ts';

/**
 * Waits for `rec` to finish. `opened` is a listener on the job's events that was active before
 * `rec` was written (a creation subscribes before it sends the job's message): then `rec` is
 * known current and the first read is skipped. The listener is closed either way.
 */
export async function waitForJob(
  farm: FarmState,
  rec: JobRecord,
  waitSec: number,
  signal?: AbortSignal,
  opened?: EventListener,
): Promise<JobRecord> {
  if (waitSec <= 0 || isFinished(rec)) {
    opened?.close();
    return rec;
  }
  const deadline = Date.now() + waitSec * 1000;
  const listener = opened ?? (await farm.listenJob(rec.id));
  try {
    let current: JobRecord | null = rec;
    let read = opened === undefined;
    for (;;) {
      if (read) {
        current = await farm.getJob(rec.id);
        if (!current || isFinished(current)) return current ?? rec;
      }
      read = true;
      const left = deadline - Date.now();
      if (left <= 0 || signal?.aborted) return current;
      await listener.next(left, signal);
      // The completion's event carries the finished job: no read of the record for it.
      const done = listener.finished(rec.spec);
      if (done && isFinished(done)) return done;
    }
  } finally {
    listener.close();
  }
}
