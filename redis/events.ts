/**
 * Job wake-ups over pub/sub: one subscriber connection per process, subscribed per channel on
 * demand (reference-counted), so long-polls and log followers never poll. Subscribe FIRST, then
 * check state, then wait: a listener counts messages that arrive between the two.
 */
import type { RedisConn } from './connect.ts';
import type { EventListener } from '../protocol/farm.ts';

export interface JobEvents {
  /** Subscribes to `channel`; resolves once the subscription is active. */
  listen(channel: string): Promise<EventListener>;
  close(): void;
}

interface Sub {
  listeners: Set<{ poke(): void }>;
  ready: Promise<unknown>;
}

/** Builds the wake-up hub on a dedicated subscriber connection (used for nothing else). */
export function createJobEvents(sub: RedisConn): JobEvents {
  const channels = new Map<string, Sub>();
  sub.on('message', (channel: string) => {
    for (const l of channels.get(channel)?.listeners ?? []) l.poke();
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
      const me = {
        poke() {
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
      for (const entry of channels.values()) for (const l of entry.listeners) l.poke();
      channels.clear();
      sub.disconnect();
    },
  };
}
