/**
 * The job-disk port: the file system a job's directory lives on, sized to the job's granted
 * `limits.diskMiB`, so a job that writes past it gets ENOSPC inside the sandbox and the builder's
 * own disk is untouched. Linux: builders/linux/loop-disk.ts (an ext4 image per job). Without a
 * provider the job directory is a plain directory on the work disk (no quota).
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';

/** One job's file system, from `create` to `release`. */
export interface JobDisk {
  /**
   * The job directory, seen inside the sandbox as /job: not yet created, or (a disk whose sandbox
   * was made ready ahead) an empty directory; the caller fills it.
   */
  readonly root: string;
  /**
   * A directory on the same file system for the sandbox's /tmp (empty, writable by every uid,
   * sticky), so what a job keeps in /tmp counts in its disk limit. Absent: /tmp is the profile's
   * tmpfs, which counts in its memory limit.
   */
  readonly tmp?: string;
  /** True when the file system was full at any check since `create` (or is now): the job hit its limit. */
  hitLimit(): Promise<boolean>;
  /** Removes the file system and everything on it; idempotent. */
  release(): Promise<void>;
}

export interface JobDisks {
  /** Makes a file system of `sizeMiB` for a job under `dir` (which exists and is the builder's). */
  create(dir: string, sizeMiB: number): Promise<JobDisk>;
  /** At start: removes what a killed builder left mounted under `workDir`. */
  sweep(workDir: string): Promise<void>;
  /** At stop: removes what the provider keeps ready (spare file systems). */
  close(): Promise<void>;
}

/** No quota: the job directory is `<dir>/root` on the work disk. */
export const PLAIN_DISKS: JobDisks = {
  async create(dir) {
    await mkdir(dir, { recursive: true });
    return { root: join(dir, 'root'), hitLimit: () => Promise.resolve(false), release: async () => {} };
  },
  sweep: async () => {},
  close: async () => {},
};
