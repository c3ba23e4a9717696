/**
 * The work disk's fullness as a builder sees it. The builder takes no job (it advertises itself
 * draining and hands back what it was sent) while the disk has less than `reserveBytes` free, so
 * its own disk never fills with jobs; and once a job hit ENOSPC it counts as full until the disk
 * has `minFreeBytes` (and the reserve) free again. Checked at each job's admission (the free space
 * read at most once a second) and at each heartbeat.
 */
import { statfsSync } from 'node:fs';

export interface DiskGuard {
  /** True while the builder must take no job: below the reserve, or marked full and not yet clear. */
  full(): boolean;
  /** A job hit ENOSPC. */
  markFull(): void;
  /** Re-checks (each heartbeat); clears a full mark once enough space is free. Returns `full()`. */
  stillFull(): boolean;
}

export interface DiskGuardOptions {
  /** Free bytes below which no job is taken. */
  reserveBytes: number;
  /** After a full disk, free bytes needed before jobs are taken again. */
  minFreeBytes: number;
  /** Reads the free bytes of the disk. @default statfs of `dir` */
  free?: () => number;
}

export function createDiskGuard(dir: string, o: DiskGuardOptions, log: (m: string) => void): DiskGuard {
  let marked = false;
  let below = false;
  const statFree = (): number => {
    try {
      const s = statfsSync(dir);
      return Number(s.bavail) * Number(s.bsize);
    } catch {
      return Infinity; // cannot tell: do not keep the builder out on a guess
    }
  };
  const read = o.free ?? statFree;
  let cached = { at: -Infinity, bytes: 0 };
  const free = (fresh: boolean): number => {
    const now = performance.now();
    if (fresh || now - cached.at > 1000) cached = { at: now, bytes: read() };
    return cached.bytes;
  };
  const belowReserve = (fresh: boolean): boolean => {
    const b = free(fresh) < o.reserveBytes;
    if (b !== below)
      log(
        b
          ? `the work disk ${dir} has less than its reserve of ${o.reserveBytes} bytes free: taking no jobs`
          : `the work disk ${dir} has its reserve of ${o.reserveBytes} bytes free again`,
      );
    below = b;
    return b;
  };
  return {
    full: () => marked || belowReserve(false),
    markFull() {
      if (!marked) log(`the work disk ${dir} is full: taking no jobs until ${o.minFreeBytes} bytes are free`);
      marked = true;
    },
    stillFull() {
      if (marked && free(true) >= Math.max(o.minFreeBytes, o.reserveBytes)) {
        marked = false;
        log(`the work disk ${dir} has room again: taking jobs`);
      }
      return marked || belowReserve(true);
    },
  };
}
