/**
 * The sandbox launcher: one small root process per builder (builders/linux/launcher.pl, run by
 * the system's Perl, which every Debian host has: perl-base is essential), started once, that
 * starts every bubblewrap sandbox, so that this process never forks per job. A fork copies the
 * parent's page tables, in proportion to its memory: at the builder's 140-190 MB a sandbox start
 * cost it ~15 ms of CPU (ChildProcess.spawn), and the child ~3 ms more before its exec; the
 * launcher is ~6 MB and never runs JavaScript.
 *
 * A start is one request on the launcher's stdin. The launcher forks a watcher, which forks the
 * child. The child opens the sandbox's descriptors: this process's FIFOs (builders/linux/fifo.ts)
 * reopened through /proc/<this pid>/fd/<n>, bwrap's options and seccomp program as anonymous
 * files, /dev/null as stdin and a pipe to the watcher for bwrap's JSON status; it says its pid
 * and waits at its gate, so that the caller moves it into the job's cgroup before it becomes
 * anything else (bwrap and all it starts are born inside); then it sets the job's gid, groups
 * (that gid only) and uid, checks them, and execs bwrap. The watcher reports its exit and the
 * status once it is gone.
 *
 * The launcher also makes the FIFOs of the sandboxes' output (builders/linux/fifo.ts): mkfifo,
 * chmod and chown of each are three system calls there, where the `mkfifo` program cost this
 * process a fork of itself per batch.
 *
 * The launcher runs in a session of its own. At the end of its stdin (this process closed it, or
 * died) it SIGKILLs its process group: every bwrap it started, and through bwrap's
 * --die-with-parent every sandbox, as when bwrap was this process's own child. Should the
 * launcher die first, this process kills that group itself and starts a new launcher.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants as fsConstants } from 'node:fs';
import type { Socket } from 'node:net';
import { constants as osConstants } from 'node:os';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('./launcher.pl', import.meta.url));
const PERL = '/usr/bin/perl';
const SIGNALS = new Map<number, NodeJS.Signals>();
for (const [name, n] of Object.entries(osConstants.signals))
  if (!SIGNALS.has(n)) SIGNALS.set(n, name as NodeJS.Signals);

/** One start: the sandbox's descriptors, ids and command line. */
export interface LauncherStart {
  uid: number;
  gid: number;
  /** `[n, fd, dir]`: the sandbox's descriptor n is this process's `fd` (a FIFO end), reopened. */
  fds: readonly (readonly [number, number, '<' | '>'])[];
  /** Where bwrap's JSON status goes (read by the watcher). */
  statusFd: number;
  /** bwrap's options (NUL-terminated), as a file at `fd`. */
  args: { fd: number; data: Buffer };
  seccomp?: { fd: number; data: Buffer };
  argv: readonly string[];
}

export interface LauncherEnd {
  code: number | null;
  sig: NodeJS.Signals | null;
  /** What bwrap wrote on its status descriptor. */
  status: string;
}

/** A child waiting at its gate: it has its descriptors, and is not bwrap yet. */
export interface LauncherChild {
  pid: number;
  /** Lets it become bwrap. */
  go(): void;
  /** Ends it (exit 125) without starting anything. */
  cancel(): void;
  ended: Promise<LauncherEnd>;
}

export interface Launcher {
  /** Resolves once the child waits at its gate; rejects when it could not get there. */
  start(s: LauncherStart): Promise<LauncherChild>;
  /**
   * Makes FIFOs `dir`/0 … `dir`/`count - 1` (mode 0600, owned by `uid`:`gid`, so the sandbox may
   * reopen its ends through /proc/self/fd); `dir` is the caller's, who opens them and removes it.
   * Rejects with the reason when one cannot be made (then none is left).
   */
  fifos(dir: string, count: number, uid: number, gid: number): Promise<void>;
}

interface Pending {
  opened(pid: number): void;
  ended(e: LauncherEnd): void;
  failed(e: Error): void;
  pid?: number;
  /** Why its child could not start (its w line). */
  why?: string;
}

let shared: Launcher | null | undefined;

/** This process's launcher, started on first use; null where the system has no Perl. */
export function launcher(): Launcher | null {
  if (shared !== undefined) return shared;
  try {
    accessSync(PERL, fsConstants.X_OK);
    shared = createLauncher();
  } catch {
    shared = null;
  }
  return shared;
}

function createLauncher(): Launcher {
  let proc: ChildProcess | undefined;
  let next = 1;
  let stderr = '';
  const pending = new Map<number, Pending>();
  const making = new Map<number, { made(): void; failed(e: Error): void }>();
  // The launcher keeps this process alive only while a start or FIFOs are under way.
  const hold = (): void => {
    const out = proc?.stdout as Socket | undefined;
    if (pending.size > 0 || making.size > 0) out?.ref();
    else out?.unref();
  };

  const answer = (line: string): void => {
    const [what, id, a, b, ...status] = line.split(' ');
    const f = what === 'f' ? making.get(Number(id)) : undefined;
    if (f) {
      making.delete(Number(id));
      hold();
      if (a === 'ok') f.made();
      else f.failed(new Error(line.split(' ').slice(2).join(' ')));
      return;
    }
    const p = pending.get(Number(id));
    if (!p) return;
    if (what === 'w') {
      p.why = line.split(' ').slice(2).join(' ');
    } else if (what === 'c') {
      p.pid = Number(a);
      p.opened(p.pid);
    } else if (what === 'x') {
      pending.delete(Number(id));
      hold();
      const n = Number(b);
      const end = { code: a === 'e' ? n : null, sig: a === 's' ? (SIGNALS.get(n) ?? null) : null };
      if (p.pid === undefined)
        p.failed(
          new Error(p.why ? `kiln launcher: ${p.why}` : stderr.trim().split('\n').at(-1) || `exit ${n}`),
        );
      else p.ended({ ...end, status: status.join(' ') });
    }
  };

  const gone = (c: ChildProcess): void => {
    if (proc !== c) return;
    proc = undefined;
    try {
      process.kill(-(c.pid as number), 'SIGKILL'); // every watcher and bwrap it started
    } catch {
      // none left
    }
    for (const p of pending.values()) {
      if (p.pid === undefined) p.failed(new Error(`the launcher ended: ${stderr.trim()}`));
      else p.ended({ code: null, sig: 'SIGKILL', status: '' });
    }
    pending.clear();
    for (const f of making.values()) f.failed(new Error(`the launcher ended: ${stderr.trim()}`));
    making.clear();
  };

  const up = (): ChildProcess => {
    if (proc) return proc;
    const c = spawn(PERL, [SCRIPT], {
      detached: true,
      cwd: '/',
      env: { PATH: '/usr/bin:/bin' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let buf = '';
    c.stdout!.setEncoding('utf8');
    c.stdout!.on('data', (d: string) => {
      buf += d;
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        answer(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    });
    c.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString('utf8')).slice(-2048)));
    c.stdin!.on('error', () => undefined);
    c.once('error', () => gone(c));
    c.once('exit', () => gone(c));
    c.unref();
    (c.stderr as Socket).unref();
    (c.stdin as Socket).unref();
    proc = c;
    hold();
    return c;
  };

  return {
    start(s) {
      const id = next++;
      const ids = [s.uid, s.gid, s.statusFd, s.args.fd, s.seccomp?.fd ?? 0, ...s.fds.map((f) => f[0])];
      if (!ids.every((n) => Number.isSafeInteger(n) && n >= 0) || s.fds.some((f) => f[0] > 9))
        return Promise.reject(new Error('bad launcher request'));
      const argv = Buffer.from(s.argv.join('\0'));
      const fds = s.fds.map(([n, fd, dir]) => `${n}${dir}${fd}`).join(',');
      const seccomp = s.seccomp?.data ?? Buffer.alloc(0);
      const head =
        `s ${id} ${s.uid} ${s.gid} ${fds} ${s.statusFd} ${s.args.fd}:${s.args.data.length} ` +
        `${s.seccomp?.fd ?? 0}:${seccomp.length} ${argv.length}\n`;
      return new Promise<LauncherChild>((resolve, reject) => {
        let ended: (e: LauncherEnd) => void = () => undefined;
        const end = new Promise<LauncherEnd>((r) => (ended = r));
        const send = (line: string): void => void proc?.stdin?.write(line);
        pending.set(id, {
          opened: (pid) =>
            resolve({ pid, go: () => send(`g ${id}\n`), cancel: () => send(`k ${id}\n`), ended: end }),
          ended: (e) => ended(e),
          failed: reject,
        });
        const c = up();
        hold();
        c.stdin!.write(Buffer.concat([Buffer.from(head), s.args.data, seccomp, argv]));
      });
    },
    fifos(dir, count, uid, gid) {
      const id = next++;
      if (![count, uid, gid].every((n) => Number.isSafeInteger(n) && n >= 0) || /[\n\0]/.test(dir) || !dir)
        return Promise.reject(new Error('bad launcher request'));
      return new Promise<void>((made, failed) => {
        making.set(id, { made, failed });
        const c = up();
        hold();
        c.stdin!.write(`f ${id} ${uid} ${gid} ${count} ${dir}\n`);
      });
    },
  };
}
