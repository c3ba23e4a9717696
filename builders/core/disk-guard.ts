/**
 * The work disk's fullness as a builder sees it: once a job hit ENOSPC the builder counts as full
 * (it advertises itself draining and hands back jobs that need inputs) until the disk has
 * `minFreeBytes` free again, checked at each heartbeat.
 */
import { statfsSync } from 'node:fs';

export interface DiskGuard {
  /** True while marked full. */
  full(): boolean;
  /** A job hit ENOSPC. */
  markFull(): void;
  /** Re-checks a full disk; clears the mark once enough space is free. Returns the mark. */
  stillFull(): boolean;
}

export function createDiskGuard(dir: string, minFreeBytes: number, log: (m: string) => void): DiskGuard {
  let full = false;
  const free = (): number => {
    try {
      const s = statfsSync(dir);
      return Number(s.bavail) * Number(s.bsize);
    } catch {
      return Infinity; // cannot tell: do not keep the builder out on a guess
    }
  };
  return {
    full: () => full,
    markFull() {
      if (!full) log(`the work disk ${dir} is full: taking no jobs until ${minFreeBytes} bytes are free`);
      full = true;
    },
    stillFull() {
      if (full && free() >= minFreeBytes) {
        full = false;
        log(`the work disk ${dir} has room again: taking jobs`);
      }
      return full;
    },
  };
}
