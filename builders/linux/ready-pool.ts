/**
 * Sandboxes made ready before their job arrives: for each sandbox profile a job has used, a few
 * bubblewrap sandboxes already set up (namespaces, mounts, seccomp, cgroup) around an empty job
 * directory of their own, each running the waiter of builders/linux/waiter.ts. A job takes one,
 * and a new one is made in the background. Each is used by one job only and ends with it, so a
 * job gets exactly the fresh sandbox a cold start would give it, minus the wait.
 */
import type { JobDisk } from '../core/job-disk.ts';
import type { GroupLimits, JobGroup } from './cgroup.ts';
import type { Fifo } from './fifo.ts';
import type { Launched } from './bwrap-launch.ts';

/** One ready sandbox. */
export interface ReadySandbox {
  /** The pool it was made for: its profile, and for a disk-backed one `@<size in MiB>`. */
  key: string;
  profile: string;
  /** The job's file system, for a sandbox made ready around a disk (builders/core/job-disk.ts). */
  disk?: JobDisk;
  /** The directory that is the sandbox's /job (empty until a job's entries are moved in). */
  jobDir: string;
  /** The host directory holding `jobDir`, removed with the sandbox. */
  dir: string;
  group: JobGroup;
  /** The limits its group has now. */
  limits: GroupLimits;
  fifos: Fifo[] | undefined;
  launched: Launched;
  /** What the waiter said on its answer pipe so far, and when that pipe has ended. */
  answers(): string;
  answered: Promise<void>;
}

export interface ReadyPool {
  /** A ready sandbox for `key`, or null (none yet: one is being made for the next job). */
  take(key: string): ReadySandbox | null;
  /** Tops the pool of `profile` up again (after a taken sandbox's job). */
  refill(profile: string): void;
  /** Starts keeping sandboxes of `profile` ready; resolves once one is (or making one failed). */
  prepare(profile: string): Promise<void>;
  /** Ends every sandbox not taken, and those still being made (once they are): none is left when it resolves. */
  close(): Promise<void>;
}

/**
 * Keeps `count` sandboxes ready per key (a profile, or a profile and disk size) once that key was
 * asked for; `make` starts one, `dispose` ends one that was never used (or died waiting).
 */
export function createReadyPool(
  count: number,
  make: (profile: string) => Promise<ReadySandbox>,
  dispose: (s: ReadySandbox) => Promise<void>,
  log: (m: string) => void,
): ReadyPool {
  const idle = new Map<string, ReadySandbox[]>();
  const making = new Map<string, number>();
  const waiting = new Map<string, (() => void)[]>();
  /** Makes under way (each settles once its sandbox is kept, or disposed of after a close). */
  const inFlight = new Set<Promise<void>>();
  let closed = false;
  const wake = (profile: string): void => {
    for (const w of waiting.get(profile)?.splice(0) ?? []) w();
  };

  const fill = (profile: string): void => {
    const list = idle.get(profile) ?? [];
    idle.set(profile, list);
    // One at a time per profile: making one costs what a cold start costs, so never a burst.
    if (closed || (making.get(profile) ?? 0) > 0 || list.length >= count) return;
    making.set(profile, 1);
    let made = false;
    const done = make(profile)
      .then((s) => {
        made = true;
        if (closed) return dispose(s);
        list.push(s);
        wake(profile);
        // A sandbox that ends while it waits (killed from outside) is dropped and replaced.
        void s.launched.exit.then(() => {
          const i = list.indexOf(s);
          if (i >= 0) {
            list.splice(i, 1);
            void dispose(s).finally(() => fill(profile));
          }
        });
      })
      .catch((err: unknown) => log(`kiln: could not make a sandbox ready ahead: ${(err as Error).message}`))
      .finally(() => {
        making.set(profile, 0);
        if (!made) wake(profile);
        // After a failure the next job's take tries again; never a loop of failures.
        if (made && list.length < count && !closed) setImmediate(() => fill(profile));
        inFlight.delete(done);
      });
    inFlight.add(done);
  };

  return {
    take(profile) {
      const s = idle.get(profile)?.shift() ?? null;
      // None ready: start making them now; else the next is made once this one's job is done
      // (refill), so making it never competes with the job that was waiting for it.
      if (!s) fill(profile);
      return s;
    },
    refill: fill,
    prepare(profile) {
      if ((idle.get(profile)?.length ?? 0) > 0 || closed) return Promise.resolve();
      const done = new Promise<void>((r) => waiting.set(profile, [...(waiting.get(profile) ?? []), r]));
      fill(profile);
      return done;
    },
    async close() {
      closed = true;
      for (const p of waiting.keys()) wake(p);
      const all = [...idle.values()].flatMap((l) => l.splice(0));
      // A sandbox still being made is disposed of once it is: wait for that too.
      await Promise.all([...all.map((s) => dispose(s)), ...inFlight]);
    },
  };
}
