/**
 * Per-job disk quota on Linux: each job directory is its own ext4 file system, a sparse image of
 * exactly `limits.diskMiB` loop-mounted (nosuid, nodev, discard) at `<parent>/s-<random>/fs`, with the
 * job's files in `…/fs/job` and the sandbox's /tmp in `…/fs/tmp`. A job that writes past its quota gets ENOSPC inside the sandbox; the
 * builder's work disk only ever holds what the job really wrote (the image is sparse, and `discard`
 * punches out of it what is deleted) plus ~0.2 MiB of metadata.
 *
 * Making one is mkfs without a journal, inode tables left to read as zeros (noinit_itable), and a
 * mount: tens of milliseconds, `npm run bench:job-disk`, and three processes started by the builder
 * (mkfs, mount, umount), each a fork of the builder's Node process. So a released file system is
 * wiped and used again: its `job` and `tmp` directories are removed (every process of the job is gone by then:
 * the caller releases a disk only once the job's cgroup is empty), and it goes back to a free list
 * (4 per size, 8 in all) only if it then reads exactly as it did when new (the same free blocks and free
 * inodes, nothing beside `lost+found`); else, or when the job left many files (removing them would
 * cost more than a new file system), it is unmounted as before. A recycled disk is as empty as a new
 * one to the next job and has the same size, so a job still cannot write more than its limit;
 * what the previous job deleted is not readable (ext4 hands out blocks zeroed or as unwritten
 * extents, and no job sees the device). A spare of each recently asked size is made in the
 * background when no free one is left, so a job usually finds its disk mounted already.
 *
 * A side effect that is wanted: the sandbox's mountinfo shows `/job` as `/job` of a loop device,
 * not the host path of the job directory (builder id, job id).
 *
 * Needs root (mount) and the e2fsprogs and util-linux commands, which Debian has by default.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, open, readdir, readFile, rm, mkdir, statfs } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { KilnError } from '../../protocol/errors.ts';
import type { JobDisk, JobDisks } from '../core/job-disk.ts';

const run = promisify(execFile);

export interface LoopDiskOptions {
  /** @default "/usr/sbin/mkfs.ext4" */
  mkfsPath?: string;
  /** @default "/usr/bin/mount" */
  mountPath?: string;
  /** @default "/usr/bin/umount" */
  umountPath?: string;
  /** How often a running job's file system is checked for fullness, ms. @default 1000 */
  sampleMs?: number;
  /**
   * Sizes for which one spare file system is kept made and mounted, so the next job of that size
   * finds its disk ready (the most recently asked sizes). 0: every job makes its own. @default 2
   */
  spareSizes?: number;
  /** Wiped file systems kept per size for the next jobs (0: every job's is unmounted). @default 4 */
  keepFree?: number;
  /** Wiped file systems kept in all, of any sizes (the least recently released go first). @default 8 */
  maxFree?: number;
  /** @default console.warn */
  log?: (msg: string) => void;
}

/** Free space under which a job's file system counts as full: the smaller of 4 MiB and 5 % of it. */
export function fullBelow(sizeBytes: number): number {
  return Math.min(4 * 1024 * 1024, Math.floor(sizeBytes / 20));
}

/** An Error carrying ENOSPC when a command's output says the host disk is full, so it is told as such. */
function commandError(what: string, err: unknown): Error {
  const e = err as { stderr?: string; message: string; code?: unknown };
  const text = `${e.stderr ?? ''} ${e.message}`;
  if (/No space left on device/i.test(text)) {
    return Object.assign(new Error(`${what}: no space left on the work disk`), { code: 'ENOSPC' });
  }
  return new KilnError(
    'ERR_CONFIG',
    `cannot make the job's disk (${what}): ${(e.stderr ?? e.message).trim().split('\n')[0]}; ` +
      'the builder must run as root with mkfs.ext4 and loop devices, or set [sandbox] diskQuota = "none"',
    { cause: err },
  );
}

/** Job file systems (`…/fs` mount points) strictly under `dir`, deepest first, from /proc/self/mountinfo. */
export async function jobMountsUnder(dir: string): Promise<string[]> {
  const base = resolve(dir);
  const text = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  const points: string[] = [];
  for (const line of text.split('\n')) {
    const raw = line.split(' ')[4];
    if (!raw) continue;
    const p = raw.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    if (p.startsWith(`${base}/`) && p.endsWith('/fs')) points.push(p);
  }
  return points.sort((a, b) => b.length - a.length);
}

/** A job that left more files than this has its file system unmounted rather than wiped. */
const WIPE_MAX_INODES = 2000;

/** A made and mounted job file system, not yet handed to a job. */
interface Made {
  point: string;
  sizeBytes: number;
  /** Its own directory (`s-<random>`, holding `fs`), removed after unmounting. */
  own: string;
  /** Free blocks and inodes when new: a wiped one must read the same to be used again. */
  fresh: { bfree: number; ffree: number };
}

export function createLoopDisks(opts: LoopDiskOptions = {}): JobDisks {
  const mkfs = opts.mkfsPath ?? '/usr/sbin/mkfs.ext4';
  const mount = opts.mountPath ?? '/usr/bin/mount';
  const umount = opts.umountPath ?? '/usr/bin/umount';
  const sampleMs = opts.sampleMs ?? 1000;
  const spareSizes = opts.spareSizes ?? 2;
  const keepFree = opts.keepFree ?? 4;
  const maxFree = opts.maxFree ?? 8;
  const log = opts.log ?? ((m: string) => console.warn(m));
  /** One spare per recently asked size, made while the previous job of that size runs. */
  const spares = new Map<number, Promise<Made | null>>();
  /** Wiped file systems ready for the next job, least recently released first. */
  const free: Made[] = [];
  const freeOf = (sizeBytes: number): Made[] => free.filter((m) => m.sizeBytes === sizeBytes);
  let closed = false;

  const unmount = async (point: string): Promise<void> => {
    try {
      await run(umount, [point]);
    } catch {
      // Something still holds it (it should not: every job process is gone); detach it anyway.
      await run(umount, ['-l', point]).catch((err: unknown) =>
        log(`kiln: cannot unmount ${point}: ${(err as Error).message}`),
      );
    }
  };
  const discard = async (m: Made): Promise<void> => {
    await unmount(m.point);
    await rm(m.own, { recursive: true, force: true });
  };
  const counts = async (point: string): Promise<{ bfree: number; ffree: number }> => {
    const st = await statfs(point);
    return { bfree: Number(st.bfree), ffree: Number(st.ffree) };
  };

  /**
   * Empties a released file system for the next job: true when it then reads exactly as new.
   * Its job's processes are all gone (see the module comment).
   */
  const wipe = async (m: Made): Promise<boolean> => {
    const before = await counts(m.point);
    if (m.fresh.ffree - before.ffree > WIPE_MAX_INODES) return false;
    for (const d of ['job', 'tmp']) await rm(join(m.point, d), { recursive: true, force: true });
    const names = await readdir(m.point);
    if (names.some((n) => n !== 'lost+found')) return false;
    const after = await counts(m.point);
    return after.bfree === m.fresh.bfree && after.ffree === m.fresh.ffree;
  };
  /** A released file system: wiped into the free list of its size, or unmounted. */
  const recycle = async (m: Made): Promise<void> => {
    const ok =
      !closed &&
      keepFree > 0 &&
      maxFree > 0 &&
      (await wipe(m).catch((err: unknown) => {
        log(`kiln: cannot wipe the job disk ${m.point} for reuse: ${(err as Error).message}`);
        return false;
      }));
    if (!ok || closed) return discard(m);
    free.push(m);
    // Over a bound: the oldest of its size, or the least recently released of any size, goes.
    const same = freeOf(m.sizeBytes);
    const out = same.length > keepFree ? same[0] : free.length > maxFree ? free[0] : undefined;
    if (out) {
      free.splice(free.indexOf(out), 1);
      await discard(out);
    }
  };

  /** Makes and mounts the file system at `<dir>/fs`. */
  const make = async (dir: string, sizeMiB: number): Promise<Made> => {
    const sizeBytes = sizeMiB * 1024 * 1024;
    const image = join(dir, 'disk.img');
    const point = join(dir, 'fs');
    await mkdir(point, { recursive: true });
    const fh = await open(image, 'wx', 0o600);
    try {
      await fh.truncate(sizeBytes);
    } finally {
      await fh.close();
    }
    try {
      // No journal (the file system dies with the job), no reserved blocks, inode tables not written.
      await run(mkfs, [
        '-q',
        '-F',
        '-O',
        '^has_journal,^resize_inode',
        '-E',
        'lazy_itable_init=1,nodiscard',
        '-m',
        '0',
        image,
      ]).catch((err: unknown) => {
        throw commandError('mkfs.ext4', err);
      });
      await run(mount, ['-t', 'ext4', '-o', 'loop,nosuid,nodev,noinit_itable,discard', image, point]).catch(
        (err: unknown) => {
          throw commandError('mount', err);
        },
      );
    } finally {
      await rm(image, { force: true }); // once mounted the loop device keeps it open; nothing names it
    }
    return { point, sizeBytes, own: dir, fresh: await counts(point) };
  };

  /** A new file system in its own directory under `parent`. */
  const makeOwn = async (parent: string, sizeMiB: number): Promise<Made> => {
    const own = join(parent, `s-${randomBytes(8).toString('hex')}`);
    await mkdir(own);
    try {
      return await make(own, sizeMiB);
    } catch (err) {
      await rm(own, { recursive: true, force: true });
      throw err;
    }
  };

  /** Starts a spare of `sizeMiB` under `parent` unless one is there; keeps spares of `spareSizes` sizes. */
  const refill = (parent: string, sizeMiB: number): void => {
    if (closed || spareSizes === 0 || spares.has(sizeMiB) || freeOf(sizeMiB * 1024 * 1024).length) return;
    const own = join(parent, `s-${randomBytes(8).toString('hex')}`);
    const p = mkdir(own)
      .then(() => make(own, sizeMiB))
      .catch(async () => {
        await rm(own, { recursive: true, force: true });
        return null; // the job that asks for it makes its own, and says why if that fails too
      });
    spares.set(sizeMiB, p);
    while (spares.size > spareSizes) {
      const [size, oldest] = spares.entries().next().value!;
      spares.delete(size);
      void oldest.then((m) => m && discard(m));
    }
  };

  /** Makes the sandbox's /tmp on the file system, so it counts in the quota: any uid, sticky. */
  const withTmp = async (m: Made): Promise<Made> => {
    await mkdir(join(m.point, 'tmp'), { recursive: true });
    await chmod(join(m.point, 'tmp'), 0o1777);
    return m;
  };

  const handOut = (m: Made): JobDisk => {
    const limit = fullBelow(m.sizeBytes);
    let sawFull = false;
    const full = async (): Promise<boolean> => {
      const s = await statfs(m.point).catch(() => null);
      if (s && (Number(s.bavail) * Number(s.bsize) < limit || Number(s.ffree) === 0)) sawFull = true;
      return sawFull;
    };
    const timer = setInterval(() => void full(), sampleMs);
    timer.unref();
    let released: Promise<void> | undefined;
    return {
      root: join(m.point, 'job'),
      tmp: join(m.point, 'tmp'),
      hitLimit: full,
      release() {
        released ??= (async () => {
          clearInterval(timer);
          await recycle(m);
        })();
        return released;
      },
    };
  };

  return {
    async create(dir, sizeMiB) {
      const reused = freeOf(sizeMiB * 1024 * 1024).pop(); // the most recently released: warm in cache
      if (reused) {
        free.splice(free.indexOf(reused), 1);
        return handOut(await withTmp(reused));
      }
      const spare = spares.get(sizeMiB);
      spares.delete(sizeMiB);
      const m = (spare && (await spare)) || (await makeOwn(dirname(dir), sizeMiB));
      refill(dirname(dir), sizeMiB);
      return handOut(await withTmp(m));
    },
    async sweep(workDir) {
      for (const p of await jobMountsUnder(workDir)) {
        log(`kiln: unmounting ${p}, left by a builder that was killed`);
        await unmount(p);
      }
    },
    async close() {
      closed = true;
      const left = [...spares.values()];
      spares.clear();
      const kept = free.splice(0);
      for (const m of [...kept, ...(await Promise.all(left))]) if (m) await discard(m);
    },
  };
}
