/**
 * Job wake-ups over pub/sub: one subscriber connection per process, subscribed per channel on
 * demand (reference-counted), so long-polls and log followers never poll. Subscribe FIRST, then
 * check state, then wait: a listener counts messages that arrive between the two. A `done` that
 * carries the finished job's status (complete-job-2.lua) is kept for the listener's owner.
 */
import type { RedisConn } from './connect.ts';

/** What starts a `done` event that carries the job's status after it (complete-job-2.lua). */
export const DONE_WITH_STATUS = 'done\n';

/** Wake-ups of one channel, and the status the last `done` carried. */
export interface ChannelListener {
  /** Resolves true on an event (or one that came since the last call), false on timeout or abort. */
  next(timeoutMs: number, signal?: AbortSignal): Promise<boolean>;
  /** The text after {@link DONE_WITH_STATUS} of the last such event, or null before one came. */
  doneStatus(): string | null;
  close(): void;
}

export interface JobEvents {
  /** Subscribes to `channel`; resolves once the subscription is active. */
  listen(channel: string): Promise<ChannelListener>;
  close(): void;
}

interface Sub {
  listeners: Set<{ poke(message: string): void }>;
  ready: Promise<unknown>;
}

/** Builds the wake-up hub on a dedicated subscriber connection (used for nothing else). */
export function createJobEvents(sub: RedisConn): JobEvents {
  const channels = new Map<string, Sub>();
  sub.on('message', (channel: string, message: string) => {
    for (const l of channels.get(channel)?.listeners ?? []) l.poke(message);
  });

  return {
    async listen(channel) {
      let entry = channels.get(channel);
      if (!entry) {
        entry = { listeners: new Set(), ready: sub.subscribe(channel) };
        channels.set(channel, entry);
      }
      const own = entry;
      let pending = 0;
      let wake: ((v: boolean) => void) | null = null;
      let status: string | null = null;
      const me = {
        poke(message: string) {
          if (message.startsWith(DONE_WITH_STATUS)) status = message.slice(DONE_WITH_STATUS.length);
          if (wake) wake(true);
          else pending++;
        },
      };
      own.listeners.add(me);
      try {
        await own.ready;
      } catch (err) {
        // A subscription that failed (Redis down) must not stay cached for the next caller.
        own.listeners.delete(me);
        if (channels.get(channel) === own) channels.delete(channel);
        throw err;
      }
      return {
        next(timeoutMs, signal) {
          if (pending > 0) {
            pending = 0;
            return Promise.resolve(true);
          }
          if (signal?.aborted) return Promise.resolve(false);
          return new Promise<boolean>((resolve) => {
            const finish = (v: boolean): void => {
              clearTimeout(timer);
              signal?.removeEventListener('abort', onAbort);
              wake = null;
              resolve(v);
            };
            const onAbort = (): void => finish(false);
            const timer = setTimeout(() => finish(false), timeoutMs);
            signal?.addEventListener('abort', onAbort, { once: true });
            wake = finish;
          });
        },
        doneStatus: () => status,
        close() {
          wake?.(false);
          own.listeners.delete(me);
          if (own.listeners.size === 0 && channels.get(channel) === own) {
            channels.delete(channel);
            void sub.unsubscribe(channel).catch(() => undefined);
          }
        },
      };
    },
    close() {
      for (const entry of channels.values()) for (const l of entry.listeners) l.poke('');
      channels.clear();
      sub.disconnect();
    },
  };
}
