/**
 * Real pipes for a child's stdout and stderr. Node's `stdio: 'pipe'` gives the child a UNIX
 * socket, and on Linux a socket cannot be reopened through /proc/self/fd, so `echo x >/dev/stderr`
 * (common in build scripts) fails with ENXIO. A FIFO, opened here and then unlinked, behaves like
 * the anonymous pipe a shell would give.
 */
import { execFile } from 'node:child_process';
import { closeSync, constants, openSync } from 'node:fs';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { promisify } from 'node:util';
import { launcher as sharedLauncher, type Launcher } from './launcher.ts';

const run = promisify(execFile);

/**
 * A pipe: one end goes to the child (in its `stdio`, or reopened by the sandbox launcher through
 * /proc/<pid>/fd: builders/linux/launcher.ts), the other stays here.
 */
export interface Fifo {
  /** The write end, for a child that writes (then call {@link Fifo.closeWriteEnd}). */
  writeFd: number;
  /** Closes this process's copy of the write end, so `reader` ends when the child's copies close. */
  closeWriteEnd(): void;
  /** The read end as a stream (ends when every writer has closed). */
  reader(): Readable;
  /** The read end, for a child that reads (then call {@link Fifo.closeReadEnd}). */
  readFd: number;
  /** Closes this process's copy of the read end (once the child has its own). */
  closeReadEnd(): void;
  /** The write end as a stream: the child reads to its end once it is ended. */
  writer(): Writable;
  /** Closes whatever is still open. */
  close(): void;
}

/**
 * Creates `count` pipes whose write ends are owned by `uid:gid`, mode 0600 (so the child may
 * reopen them through /proc/self/fd). The sandbox launcher (builders/linux/launcher.ts) makes
 * them, which costs this process no fork; with `via` null, the `mkfifo` program (coreutils) does
 * (rejects when it is missing). @default via: this process's launcher, where there is one
 */
export async function createFifos(
  count: number,
  uid: number,
  gid: number,
  via: Launcher | null = sharedLauncher(),
): Promise<Fifo[]> {
  return (await createFifoSets(count, 1, uid, gid, via))[0]!;
}

/** `sets` sets of `count` pipes each (as {@link createFifos}), from one request (or run of `mkfifo`). */
export async function createFifoSets(
  count: number,
  sets: number,
  uid: number,
  gid: number,
  via: Launcher | null = sharedLauncher(),
): Promise<Fifo[][]> {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-fifo-'));
  const fds: number[] = [];
  try {
    const paths = Array.from({ length: count * sets }, (_, i) => join(dir, String(i)));
    if (via) await via.fifos(dir, paths.length, uid, gid);
    else {
      await run('mkfifo', ['-m', '600', ...paths]);
      for (const p of paths) await chown(p, uid, gid);
    }
    const out: Fifo[] = [];
    for (const p of paths) {
      const r = openSync(p, constants.O_RDONLY | constants.O_NONBLOCK);
      fds.push(r);
      const w = openSync(p, constants.O_WRONLY); // a reader exists, so this does not block
      fds.push(w);
      out.push(fifo(r, w));
    }
    return Array.from({ length: sets }, (_, i) => out.slice(i * count, (i + 1) * count));
  } catch (err) {
    for (const fd of fds) closeSync(fd);
    throw err;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function fifo(readFd: number, writeFd: number): Fifo {
  let w: number | undefined = writeFd;
  let r: number | undefined = readFd;
  let sock: Socket | undefined;
  const closeWriteEnd = (): void => {
    if (w !== undefined) closeSync(w);
    w = undefined;
  };
  const closeReadEnd = (): void => {
    if (r !== undefined) closeSync(r);
    r = undefined;
  };
  return {
    writeFd,
    readFd,
    closeWriteEnd,
    closeReadEnd,
    reader() {
      if (r === undefined) throw new Error('fifo already read or closed');
      sock = new Socket({ fd: r, readable: true, writable: false });
      r = undefined; // the socket owns it now
      return sock;
    },
    writer() {
      if (w === undefined) throw new Error('fifo already written or closed');
      sock = new Socket({ fd: w, readable: false, writable: true });
      w = undefined; // the socket owns it now
      return sock;
    },
    close() {
      closeWriteEnd();
      closeReadEnd();
      sock?.destroy();
    },
  };
}

/** Ready pipe sets per (count, uid, gid, maker), made ahead of need so a job does not wait for them. */
const pools = new Map<string, { ready: Fifo[][]; making: boolean }>();
/**
 * Sets made by one request to the launcher (or one `mkfifo` run: a process start costs the
 * builder a fork of itself, tens of ms of CPU on a busy machine), so one round trip serves this
 * many jobs. A set holds 2 descriptors per pipe.
 */
const BATCH = 16;
/** A new batch is started when fewer sets than this are ready. */
const LOW = 4;

/** Like {@link createFifos}, from a pool that is topped up in the background, a batch at a time. */
export async function takeFifos(
  count: number,
  uid: number,
  gid: number,
  via: Launcher | null = sharedLauncher(),
): Promise<Fifo[]> {
  const key = `${count}:${uid}:${gid}:${via ? 'launcher' : 'mkfifo'}`;
  let pool = pools.get(key);
  if (!pool) {
    pool = { ready: [], making: false };
    pools.set(key, pool);
  }
  const ready = pool.ready.shift();
  const p = pool;
  if (!p.making && p.ready.length < LOW) {
    p.making = true;
    createFifoSets(count, BATCH, uid, gid, via)
      .then((sets) => p.ready.push(...sets))
      .catch(() => undefined) // the next take makes its own and reports the error
      .finally(() => (p.making = false));
  }
  return ready ?? createFifos(count, uid, gid, via);
}
