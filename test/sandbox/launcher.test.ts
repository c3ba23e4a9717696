/**
 * The sandbox launcher (builders/linux/launcher.ts): bwrap is started by the small long-lived
 * launcher, not forked from the builder; the job gets exactly the job's uid, gid and no other
 * group, no capability, default signal dispositions; a start whose descriptors cannot be opened
 * fails with the launcher's reason; the FIFOs of a job's output are made by the launcher (mode
 * 0600, owned by the job's uid and gid), not by a `mkfifo` child of the builder; and a launcher that dies takes its sandboxes with it, the next
 * job getting a new one. Needs root and bwrap; the builder's own death is test/faults/builder-restart-sweep.
 */
import assert from 'node:assert/strict';
import { existsSync, fstatSync, readFileSync } from 'node:fs';
import { chmod, mkdtemp, readdir, rm, rmdir, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createBwrapRunner } from '../../builders/linux/bwrap-runner.ts';
import { createFifos } from '../../builders/linux/fifo.ts';
import { launcher } from '../../builders/linux/launcher.ts';
import { processesWith, runJob, sleepMarker } from './conformance.ts';

const skip =
  process.getuid?.() !== 0
    ? 'needs root'
    : !existsSync('/usr/bin/bwrap')
      ? 'needs bubblewrap'
      : !existsSync('/usr/bin/perl')
        ? 'needs perl'
        : false;
const T = { timeout: 60_000 };
const CGROUP_PARENT = `kiln-test-launcher-${process.pid}`;

const proc = (pid: number, file: string): string => {
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return '';
  }
};
const ppid = (pid: number): number => Number(proc(pid, 'stat').split(') ')[1]?.split(' ')[1]);
const statusField = (pid: number, key: string): string =>
  new RegExp(`^${key}:\\s*(.*)$`, 'm').exec(proc(pid, 'status'))?.[1]?.trim() ?? '';

/** The launcher processes of this process (its Perl children). */
async function launchers(): Promise<number[]> {
  const out: number[] = [];
  for (const d of await readdir('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    if (proc(Number(d), 'cmdline').includes('launcher.pl') && ppid(Number(d)) === process.pid)
      out.push(Number(d));
  }
  return out;
}

async function until(what: string, ok: () => Promise<boolean>, ms = 20_000): Promise<void> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 20)))
    if (await ok()) return;
  throw new Error(`timed out waiting for ${what}`);
}

describe('sandbox launcher', { skip }, () => {
  let base: string;
  const runner = createBwrapRunner({ cgroupParent: CGROUP_PARENT, log: () => undefined });
  const sh = (s: string): string[] => ['/bin/sh', '-c', s];
  before(async () => {
    base = await mkdtemp(join(tmpdir(), 'kiln-launcher-'));
    await chmod(base, 0o711);
  });
  after(async () => {
    await runner.close?.();
    await rm(base, { recursive: true, force: true });
    for (const c of await readdir('/sys/fs/cgroup').catch(() => [] as string[]))
      await rmdir(join('/sys/fs/cgroup', c, CGROUP_PARENT)).catch(() => undefined);
  });

  /** Runs `sleep <mark>` and hands `seen` the pid of the sleep, from the host, while it runs. */
  async function whileRunning(
    seen: (sleep: number) => Promise<void>,
  ): Promise<Awaited<ReturnType<typeof runJob>>> {
    const mark = sleepMarker();
    const ctl = new AbortController();
    let looked: Promise<void> | undefined;
    const done = await runJob(
      runner,
      base,
      { argv: sh(`echo ready; sleep ${mark}`), signal: ctl.signal },
      (c) => {
        looked ??= c.stdout.includes('ready')
          ? (async () => {
              try {
                let pid: number | undefined;
                await until('the sleep', async () => {
                  pid = (await processesWith(mark)).find((p) => proc(p, 'comm') === 'sleep\n');
                  return pid !== undefined;
                });
                await seen(pid!);
              } finally {
                ctl.abort();
              }
            })()
          : undefined;
      },
    );
    await looked;
    return done;
  }

  it("starts bwrap from the launcher, as the job's uid and gid only, without capabilities", T, async () => {
    let checked = false;
    const { r } = await whileRunning(async (sleep) => {
      // sleep < sh < bwrap (pid 1 inside) < bwrap (its monitor) < the launcher's watcher < the launcher
      const monitor = ppid(ppid(ppid(sleep)));
      assert.match(proc(monitor, 'cmdline'), /^\/usr\/bin\/bwrap\0--args\0/);
      const watcher = ppid(monitor);
      assert.match(proc(watcher, 'cmdline'), /launcher\.pl/);
      assert.equal(ppid(watcher) > 0 && (await launchers()).includes(ppid(watcher)), true);
      assert.notEqual(ppid(monitor), process.pid, 'not forked from the builder');
      for (const pid of [sleep, monitor]) {
        assert.deepEqual(statusField(pid, 'Uid').split(/\s+/).map(Number), [65534, 65534, 65534, 65534]);
        assert.deepEqual(statusField(pid, 'Gid').split(/\s+/).map(Number), [65534, 65534, 65534, 65534]);
        assert.ok(['', '65534'].includes(statusField(pid, 'Groups')), statusField(pid, 'Groups'));
        assert.equal(BigInt(`0x${statusField(pid, 'CapEff')}`), 0n);
      }
      assert.equal(statusField(sleep, 'SigIgn'), '0000000000000000', 'no signal ignored');
      assert.equal(statusField(sleep, 'SigBlk'), '0000000000000000', 'no signal blocked');
      checked = true;
    });
    assert.equal(r.outcome, 'killed');
    assert.ok(checked);
  });

  it('fails a start whose descriptors cannot be opened, with the reason', T, async () => {
    const l = launcher();
    assert.ok(l);
    await assert.rejects(
      l.start({
        uid: 65534,
        gid: 65534,
        fds: [[1, 999_999, '>']],
        statusFd: 4,
        args: { fd: 6, data: Buffer.alloc(0) },
        argv: ['/bin/true'],
      }),
      /cannot open descriptor 999999/,
    );
  });

  it("makes FIFOs of mode 0600 owned by the job's uid and gid, or says why not", T, async () => {
    const l = launcher();
    assert.ok(l);
    const dir = await mkdtemp(join(base, 'fifos '));
    await l.fifos(dir, 3, 65534, 65533);
    assert.deepEqual((await readdir(dir)).sort(), ['0', '1', '2']);
    for (const name of ['0', '1', '2']) {
      const st = await stat(join(dir, name));
      assert.equal(st.isFIFO(), true);
      assert.deepEqual([st.uid, st.gid, st.mode & 0o7777], [65534, 65533, 0o600]);
    }
    await assert.rejects(l.fifos(join(dir, 'missing'), 1, 65534, 65534), /cannot make FIFO .*missing\/0/);
    await rm(dir, { recursive: true });
  });

  it("the builder's pipes come from the launcher: no mkfifo program is run", T, async () => {
    const path = process.env.PATH;
    process.env.PATH = '/nonexistent'; // a `mkfifo` child could not be found
    let fifos;
    try {
      fifos = await createFifos(2, 65534, 65534);
    } finally {
      process.env.PATH = path;
    }
    for (const f of fifos) {
      const st = fstatSync(f.writeFd);
      assert.deepEqual([st.isFIFO(), st.uid, st.gid, st.mode & 0o7777], [true, 65534, 65534, 0o600]);
      f.close();
    }
  });

  it('a launcher that dies takes its sandboxes with it; the next job gets a new one', T, async () => {
    let marked = '';
    const { r } = await whileRunning(async (sleep) => {
      marked = proc(sleep, 'cmdline');
      const [l] = await launchers();
      assert.ok(l);
      process.kill(l, 'SIGKILL');
      await until('the sleep gone', async () => proc(sleep, 'cmdline') !== marked);
    });
    assert.equal(r.exitCode, null, 'the job did not run to its end');
    const next = await runJob(runner, base, { argv: sh('echo again') });
    assert.deepEqual([next.r.exitCode, next.out.stdout], [0, 'again\n']);
  });
});
