/**
 * Per-job disk quota on Linux: each job directory is its own ext4 file system, a sparse image of
 * exactly `limits.diskMiB` loop-mounted (nosuid, nodev) at `<dir>/fs`, with the job's files in
 * `<dir>/fs/job`. A job that writes past its quota gets ENOSPC inside the sandbox; the builder's
 * work disk only ever holds what the job really wrote (the image is sparse) plus ~0.2 MiB of
 * metadata. The image is made per job (mkfs without a journal, inode tables left to read as zeros
 * with noinit_itable: tens of milliseconds, `npm run bench:job-disk`) and removed with the job; a
 * spare of each recently asked size is made in the background, so a job usually finds its disk
 * mounted already.
 *
 * A side effect that is wanted: the sandbox's mountinfo shows `/job` as `/job` of a loop device,
 * not the host path of the job directory (builder id, job id).
 *
 * Needs root (mount) and the e2fsprogs and util-linux commands, which Debian has by default.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { open, readFile, rm, mkdir, statfs } from 'node:fs/promises';
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

/** A made and mounted job file system, not yet handed to a job. */
interface Made {
  point: string;
  sizeBytes: number;
  /** The directory to remove after unmounting (a spare's own; a job's directory is the caller's). */
  own?: string;
}

export function createLoopDisks(opts: LoopDiskOptions = {}): JobDisks {
  const mkfs = opts.mkfsPath ?? '/usr/sbin/mkfs.ext4';
  const mount = opts.mountPath ?? '/usr/bin/mount';
  const umount = opts.umountPath ?? '/usr/bin/umount';
  const sampleMs = opts.sampleMs ?? 1000;
  const spareSizes = opts.spareSizes ?? 2;
  const log = opts.log ?? ((m: string) => console.warn(m));
  /** One spare per recently asked size, made while the previous job of that size runs. */
  const spares = new Map<number, Promise<Made | null>>();
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
    if (m.own) await rm(m.own, { recursive: true, force: true });
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
      await run(mount, ['-t', 'ext4', '-o', 'loop,nosuid,nodev,noinit_itable', image, point]).catch(
        (err: unknown) => {
          throw commandError('mount', err);
        },
      );
    } finally {
      await rm(image, { force: true }); // once mounted the loop device keeps it open; nothing names it
    }
    return { point, sizeBytes };
  };

  /** Starts a spare of `sizeMiB` beside `dir` unless one is there; keeps spares of `spareSizes` sizes. */
  const refill = (parent: string, sizeMiB: number): void => {
    if (closed || spareSizes === 0 || spares.has(sizeMiB)) return;
    const own = join(parent, `s-${randomBytes(8).toString('hex')}`);
    const p = mkdir(own)
      .then(() => make(own, sizeMiB))
      .then((m) => ({ ...m, own }))
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
      hitLimit: full,
      release() {
        released ??= (async () => {
          clearInterval(timer);
          await discard(m);
        })();
        return released;
      },
    };
  };

  return {
    async create(dir, sizeMiB) {
      const spare = spares.get(sizeMiB);
      spares.delete(sizeMiB);
      const m = (spare && (await spare)) || (await make(dir, sizeMiB));
      refill(dirname(dir), sizeMiB);
      return handOut(m);
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
      for (const m of await Promise.all(left)) if (m) await discard(m);
    },
  };
}
