/**
 * The bubblewrap runner: the conformance suite, then the sandbox's security promises checked
 * against the real thing (network, host files, read-only system, uid, memory and pids limits,
 * seccomp), then its setup failures. Needs root (the builder runs as root) and bwrap.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import {
  chmod,
  copyFile,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  rmdir,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { KilnError } from '../../protocol/errors.ts';
import type { SandboxRunner } from '../../builders/core/sandbox.ts';
import { createBwrapRunner } from '../../builders/linux/bwrap-runner.ts';
import { PLAIN_DISKS } from '../../builders/core/job-disk.ts';
import { WAITER } from '../../builders/linux/waiter.ts';
import { LIMIT_DEFAULTS } from '../../protocol/job.ts';
import { processesWith, runJob, sandboxConformance, sleepMarker, TEST_LIMITS } from './conformance.ts';

const BWRAP = '/usr/bin/bwrap';
const skip = process.getuid?.() !== 0 ? 'needs root' : !existsSync(BWRAP) ? 'needs bubblewrap' : false;
const T = { timeout: 60_000 };
/** A cgroup parent of our own, removed afterwards. */
const CGROUP_PARENT = `kiln-test-${process.pid}`;
const notices: string[] = [];

/** A /proc file of a process, or '' once the process is gone. */
function readProc(pid: number, file: string): string {
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return '';
  }
}

/** Every runner made here, closed when the file is done (their free cgroups go with them). */
const runners: SandboxRunner[] = [];

function makeRunner(extra: Parameters<typeof createBwrapRunner>[0] = {}): SandboxRunner {
  const r = createBwrapRunner({ cgroupParent: CGROUP_PARENT, log: (m) => notices.push(m), ...extra });
  runners.push(r);
  return r;
}

/**
 * A runner whose every job takes a sandbox made ready ahead: each run first waits until one of its
 * profile is ready (a job never finds the pool empty here, so the ready path is what is tested).
 */
async function readyRunner(
  dir: string,
  extra: Parameters<typeof createBwrapRunner>[0] = {},
): Promise<SandboxRunner> {
  const inner = makeRunner({ ready: { dir, count: 1 }, ...extra });
  return {
    name: inner.name,
    async run(req) {
      await inner.prepare!(req.profile, req.limits);
      return inner.run(req);
    },
  };
}

async function removeCgroupParent(): Promise<void> {
  const dirs = [join('/sys/fs/cgroup', CGROUP_PARENT)];
  for (const c of await readdir('/sys/fs/cgroup').catch(() => [] as string[])) {
    dirs.push(join('/sys/fs/cgroup', c, CGROUP_PARENT));
  }
  await Promise.all(dirs.map((d) => rmdir(d).catch(() => undefined)));
}

describe('bwrap runner', { skip }, () => {
  let readyDir: string;
  before(async () => {
    readyDir = await mkdtemp(join(tmpdir(), 'kiln-ready-'));
    await chmod(readyDir, 0o711);
  });
  after(async () => {
    await Promise.all(runners.map((r) => r.close?.()));
    await rm(readyDir, { recursive: true, force: true });
    await removeCgroupParent();
  });

  sandboxConformance('bwrap', async () => makeRunner());
  sandboxConformance('bwrap, sandboxes made ready ahead', () => readyRunner(readyDir));
  // Without the launcher (no Perl): every sandbox spawned from this process, a waiter reading its
  // program from a socket.
  sandboxConformance('bwrap, spawned from the builder', async () => makeRunner({ launcher: false }));
  sandboxConformance('bwrap, made ready ahead, spawned from the builder', () =>
    readyRunner(readyDir, { launcher: false }),
  );

  describe('sandboxes made ready ahead', () => {
    let base: string;
    let runner: SandboxRunner;
    const sh = (script: string): string[] => ['/bin/sh', '-c', script];
    before(async () => {
      base = await mkdtemp(join(tmpdir(), 'kiln-bwrap-ready-'));
      await chmod(base, 0o711);
      runner = makeRunner({ ready: { dir: readyDir, count: 1 } });
    });
    after(async () => {
      await runner.close?.();
      await rm(base, { recursive: true, force: true });
    });

    it('a job takes the ready sandbox: no cgroup or pipes made while it waits', T, async () => {
      await runner.prepare!('default', TEST_LIMITS);
      const { r, out } = await runJob(runner, base, { argv: sh('echo ready; exit 3') });
      assert.deepEqual([r.exitCode, out.stdout], [3, 'ready\n']);
      assert.deepEqual(Object.keys(r.steps ?? {}), ['prepare', 'start', 'run', 'settle', 'drain']);
    });

    it('serves one job only: the next job gets a fresh /tmp and the same pid', T, async () => {
      await runner.prepare!('default', TEST_LIMITS);
      const first = await runJob(runner, base, { argv: sh('echo $$; touch /tmp/left-by-first') });
      await runner.prepare!('default', TEST_LIMITS);
      const next = await runJob(runner, base, { argv: sh('echo $$; ls /tmp') });
      assert.equal(next.r.exitCode, 0, next.out.stderr);
      assert.equal(first.out.stdout, next.out.stdout, 'the command is the same pid in a fresh pid namespace');
      assert.doesNotMatch(next.out.stdout, /left-by-first/);
    });

    it('refuses a cwd that does not exist, and gives the job its files back', T, async () => {
      await runner.prepare!('default', TEST_LIMITS);
      const jobDir = await mkdtemp(join(base, 'job-'));
      await writeFile(join(jobDir, 'kept.txt'), 'kept\n');
      await assert.rejects(runJob(runner, base, { argv: ['true'], cwd: 'nope', jobDir }), (err: unknown) => {
        assert.ok(err instanceof KilnError);
        assert.equal(err.code, 'ERR_VALIDATION');
        assert.match(err.message, /chdir/);
        return true;
      });
      assert.deepEqual(await readdir(jobDir), ['kept.txt']);
    });

    it('close ends every sandbox still waiting: no process, no directory left', T, async () => {
      const own = await mkdtemp(join(tmpdir(), 'kiln-ready-close-'));
      await chmod(own, 0o711);
      const r = makeRunner({ ready: { dir: own, count: 2 } });
      await r.prepare!('default', { ...TEST_LIMITS, diskMiB: LIMIT_DEFAULTS.diskMiB });
      const [made] = await readdir(own);
      // bwrap's options come on a descriptor: a waiting sandbox is found by its waiter, whose
      // mounts name the directory it binds. By the directory's unique name, not its path: mountinfo
      // gives a bind mount's source relative to its file system (/tmp a tmpfs: no /tmp in it).
      const waiting = async (): Promise<number> =>
        (await processesWith(WAITER.slice(0, 24))).filter((pid) =>
          readProc(pid, 'mountinfo').includes(basename(own)),
        ).length;
      assert.ok(made, 'a sandbox directory is made');
      assert.ok((await waiting()) > 0, 'a sandbox waits');
      await r.close!();
      assert.equal(await waiting(), 0);
      assert.deepEqual(await readdir(own), []);
      await rm(own, { recursive: true, force: true });
    });

    it('a disk from runner.disks is a ready sandbox: the files go straight into its /job', T, async () => {
      const own = await mkdtemp(join(tmpdir(), 'kiln-ready-disk-'));
      await chmod(own, 0o711);
      const r = createBwrapRunner({
        cgroupParent: CGROUP_PARENT,
        log: (m) => notices.push(m),
        ready: { dir: own, count: 1, disks: PLAIN_DISKS },
      });
      try {
        await r.prepare!('default', { ...TEST_LIMITS, diskMiB: LIMIT_DEFAULTS.diskMiB });
        const attempt = await mkdtemp(join(base, 'attempt-'));
        const disk = await r.disks.create(attempt, LIMIT_DEFAULTS.diskMiB);
        assert.ok(disk.root.startsWith(own), `the ready sandbox's directory: ${disk.root}`);
        await writeFile(join(disk.root, 'in.txt'), 'input\n');
        const { r: res, out } = await runJob(r, base, {
          argv: sh('cat in.txt; echo made > out.txt'),
          jobDir: disk.root,
          limits: { ...TEST_LIMITS, diskMiB: LIMIT_DEFAULTS.diskMiB },
        });
        assert.deepEqual([res.exitCode, out.stdout], [0, 'input\n'], out.stderr);
        assert.deepEqual(Object.keys(res.steps ?? {}), ['prepare', 'start', 'run', 'settle', 'drain']);
        assert.equal(await readFile(join(disk.root, 'out.txt'), 'utf8'), 'made\n');
        await disk.release();
        assert.equal(existsSync(disk.root), false, 'released with its sandbox');
        // A disk claimed and released without a run ends its waiting sandbox too.
        await r.prepare!('default', { ...TEST_LIMITS, diskMiB: LIMIT_DEFAULTS.diskMiB });
        const unused = await r.disks.create(attempt, LIMIT_DEFAULTS.diskMiB);
        assert.ok(unused.root.startsWith(own));
        await unused.release();
        assert.equal(existsSync(unused.root), false);
      } finally {
        await r.close!();
        await rm(own, { recursive: true, force: true });
      }
    });
  });

  for (const mode of ['cold', 'made ready ahead'] as const)
    describe(`security (sandboxes ${mode})`, () => {
      let runner: SandboxRunner;
      let base: string;
      const sh = (script: string): string[] => ['/bin/sh', '-c', script];
      before(async () => {
        runner = mode === 'cold' ? makeRunner() : await readyRunner(readyDir);
        base = await mkdtemp(join(tmpdir(), 'kiln-bwrap-test-'));
        await chmod(base, 0o711);
      });
      after(async () => {
        await rm(base, { recursive: true, force: true });
      });

      it("runs every process in the job's own cgroup", T, async () => {
        const mark = sleepMarker();
        const ctl = new AbortController();
        let seen: Promise<string> | undefined;
        const { r } = await runJob(
          runner,
          base,
          { argv: sh(`sleep ${mark} & echo ready; wait`), signal: ctl.signal },
          (c) => {
            seen ??= c.stdout.includes('ready')
              ? processesWith(mark).then((pids) => {
                  ctl.abort();
                  return pids.map((pid) => readProc(pid, 'cgroup')).join('');
                })
              : undefined;
          },
        );
        assert.equal(r.outcome, 'killed');
        const cgroups = await seen;
        // One group, of this job alone while it runs (groups are reused from job to job).
        const groups = new Set(cgroups?.match(new RegExp(`/${CGROUP_PARENT}/g-[0-9a-f]+$`, 'gm')));
        assert.equal(groups.size, 1, cgroups);
        assert.deepEqual(
          notices.filter((n) => /cgroup/.test(n)),
          [],
        );
      });

      it('has no network: a server on the host loopback gets no connection', T, async () => {
        let connections = 0;
        const server: Server = createServer((s) => {
          connections++;
          s.destroy();
        });
        await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
        const port = (server.address() as { port: number }).port;
        try {
          const { r, out } = await runJob(runner, base, {
            argv: ['/usr/bin/bash', '-c', `exec 3<>/dev/tcp/127.0.0.1/${port} && echo connected`],
          });
          assert.notEqual(r.exitCode, 0);
          assert.doesNotMatch(out.stdout, /connected/);
          assert.equal(connections, 0);
        } finally {
          await new Promise((res) => server.close(res));
        }
      });

      it("cannot read the host's files: /root, the builder's config", T, async () => {
        const config = await mkdtemp(join(base, 'builder-config-'));
        await chmod(config, 0o755);
        const secret = join(config, 'builder.toml');
        await writeFile(secret, 'key = "SECRET-0123456789"\n', { mode: 0o644 }); // world-readable on purpose
        const { r, out } = await runJob(runner, base, {
          argv: sh(`ls /root; cat ${secret}; cat /job/..${secret}; cat /proc/1/root${secret}; exit 0`),
        });
        assert.equal(r.exitCode, 0);
        assert.doesNotMatch(out.stdout, /SECRET/);
        assert.match(out.stderr, /\/root/);
        assert.match(out.stderr, /builder\.toml/);
      });

      it('cannot write /usr, /etc or /', T, async () => {
        const targets = ['/usr/kiln-test', '/etc/kiln-test', '/kiln-test', '/usr/bin/sh'];
        const script = targets
          .map((t) => `if (echo x > ${t}) 2>/dev/null; then echo WROTE ${t}; fi`)
          .join('; ');
        const { r, out } = await runJob(runner, base, {
          argv: sh(`${script}; mkdir /newdir || echo no-mkdir`),
        });
        assert.equal(r.exitCode, 0);
        assert.equal(out.stdout, 'no-mkdir\n');
        assert.ok(!existsSync('/usr/kiln-test') && !existsSync('/kiln-test'));
      });

      it('is not root on the host', T, async () => {
        const mark = sleepMarker();
        const ctl = new AbortController();
        let hostView: Promise<{ uidMap: string; status: string }> | undefined;
        const { r, out, jobDir } = await runJob(
          runner,
          base,
          { argv: sh(`touch owned; id -u; echo ready; sleep ${mark}`), signal: ctl.signal },
          (c) => {
            if (!hostView && c.stdout.includes('ready')) {
              hostView = (async () => {
                try {
                  // The marker is also on the command lines of bwrap and the shell (and of the
                  // forked shell until it execs): wait for the sleep itself.
                  for (let i = 0; i < 500; i++) {
                    for (const pid of await processesWith(mark)) {
                      const read = (f: string): string => readProc(pid, f);
                      if (read('comm') === 'sleep\n')
                        return { uidMap: read('uid_map'), status: read('status') };
                    }
                    await new Promise((res) => setTimeout(res, 10));
                  }
                  throw new Error('the job never ran sleep');
                } finally {
                  ctl.abort();
                }
              })();
            }
          },
        );
        assert.equal(r.outcome, 'killed');
        const view = await hostView;
        assert.ok(view);
        // Read from the host, uid_map's second column is the host uid: one id, not root.
        const [inside, outside, count] = view.uidMap.trim().split(/\s+/).map(Number);
        assert.deepEqual([inside, count], [65534, 1]);
        assert.notEqual(outside, 0);
        const uids = /^Uid:\s+(.*)$/m.exec(view.status)?.[1]?.split(/\s+/).map(Number);
        assert.ok(uids && uids.every((u) => u !== 0), `host uids ${uids}`);
        assert.notEqual((await stat(join(jobDir, 'owned'))).uid, 0);
        assert.equal(out.stdout.split('\n')[0], '65534');
      });

      it('kills a job over its memory limit and reports oomKilled', T, async () => {
        const { r } = await runJob(runner, base, {
          argv: sh('head -c 300m /dev/zero | tail > /dev/null'),
          limits: { ...TEST_LIMITS, memoryMiB: 64 },
        });
        assert.equal(r.oomKilled, true);
        assert.notEqual(r.exitCode, 0);
      });

      it('reports oomKilled false for a job within its limit', T, async () => {
        const { r } = await runJob(runner, base, { argv: sh('head -c 10m /dev/zero | tail > /dev/null') });
        assert.deepEqual([r.exitCode, r.oomKilled], [0, false]);
      });

      it('caps the number of processes', T, async () => {
        // Bounded: at most 200 sleeps, which the end of the job kills.
        const script = 'n=0; while [ $n -lt 200 ]; do sleep 30 & n=$((n+1)); echo $n; done';
        const { r, out } = await runJob(runner, base, {
          argv: sh(script),
          limits: { ...TEST_LIMITS, pids: 32 },
        });
        const started = Math.max(0, ...out.stdout.split('\n').filter(Boolean).map(Number));
        assert.ok(started < 32, `started ${started} processes under a limit of 32`);
        assert.match(out.stderr, /fork/i);
        assert.notEqual(r.exitCode, 0);
      });

      it('applies the seccomp filter: keyctl fails with EPERM, no new user namespace', T, async () => {
        const py =
          'import ctypes; l = ctypes.CDLL(None, use_errno=True); print(l.syscall(250, 0, 0, 0, 0, 0), ctypes.get_errno())';
        const { r, out } = await runJob(runner, base, {
          argv: sh(
            `/usr/bin/python3 -c '${py}'; grep Seccomp: /proc/self/status; unshare -U true || echo no-userns`,
          ),
        });
        assert.equal(r.exitCode, 0, out.stderr);
        assert.match(out.stdout, /^-1 1$/m);
        assert.match(out.stdout, /^Seccomp:\s+2$/m);
        assert.match(out.stdout, /no-userns/);
      });

      it('refuses AF_VSOCK (and other families) sockets and ptrace of pid 1', T, async () => {
        const py = [
          'import ctypes, socket',
          'l = ctypes.CDLL(None, use_errno=True)',
          'for fam in (40, 17, 38):',
          '  try: socket.socket(fam, socket.SOCK_STREAM if fam != 17 else socket.SOCK_RAW); print("created", fam)',
          '  except OSError as e: print("refused", fam, e.errno)',
          'socket.socket(socket.AF_UNIX).close(); print("unix ok")',
          'print("ptrace", l.ptrace(16, 1, 0, 0), ctypes.get_errno())',
        ].join('\n');
        await writeFile(join(base, 'probe.py'), py);
        const jobDir = await mkdtemp(join(base, 'job-'));
        await copyFile(join(base, 'probe.py'), join(jobDir, 'probe.py'));
        const { r, out } = await runJob(runner, base, { jobDir, argv: ['/usr/bin/python3', 'probe.py'] });
        assert.equal(r.exitCode, 0, out.stderr);
        for (const fam of [40, 17, 38]) assert.match(out.stdout, new RegExp(`^refused ${fam} 97$`, 'm'));
        assert.match(out.stdout, /^unix ok$/m);
        assert.match(out.stdout, /^ptrace -1 1$/m, 'PTRACE_ATTACH to the sandbox init fails with EPERM');
      });

      it('lets a job write to /dev/stdout and /dev/stderr', T, async () => {
        const { r, out } = await runJob(runner, base, {
          argv: sh('echo o > /dev/stdout; echo e > /dev/stderr'),
        });
        assert.equal(r.exitCode, 0);
        assert.deepEqual([out.stdout, out.stderr], ['o\n', 'e\n']);
      });

      it('uses a toolchain root instead of the host /usr when given', T, async () => {
        const root = await mkdtemp(join(base, 'toolchain-'));
        await chmod(root, 0o755);
        for (const [link, target] of [
          ['bin', 'usr/bin'],
          ['lib', 'usr/lib'],
          ['lib64', 'usr/lib64'],
        ] as const) {
          await mkdir(join(root, target), { recursive: true });
          await symlink(target, join(root, link));
        }
        // A shell and the libraries it needs, copied from the host.
        const libs = execFileSync('ldd', ['/usr/bin/dash'], { encoding: 'utf8' }).match(/\/\S+/g) ?? [];
        for (const lib of libs) {
          await mkdir(dirname(join(root, lib)), { recursive: true });
          await copyFile(lib, join(root, lib));
        }
        await copyFile('/usr/bin/dash', join(root, 'usr/bin/sh'));
        await mkdir(join(root, 'usr/share'));
        await writeFile(join(root, 'usr/share/marker'), 'toolchain-root\n');
        const { r, out } = await runJob(runner, base, {
          argv: sh('read x < /usr/share/marker; echo "$x"; [ -e /usr/bin/bash ] && echo host-usr; exit 0'),
          rootDir: root,
        });
        assert.equal(r.exitCode, 0, out.stderr);
        assert.equal(out.stdout, 'toolchain-root\n');
      });

      it('reports a missing command as exit 127, not as a setup failure', T, async () => {
        const { r, out } = await runJob(runner, base, { argv: ['no-such-command-kiln'] });
        assert.deepEqual([r.outcome, r.exitCode], ['exited', 127]);
        assert.match(out.stderr, /no-such-command-kiln/);
      });

      it('maps a command killed by a signal to signal, not exit code', T, async () => {
        const { r } = await runJob(runner, base, { argv: sh('kill -SEGV $$') });
        assert.deepEqual([r.exitCode, r.signal], [null, 'SIGSEGV']);
      });
    });

  describe('without usable cgroups (process-tree fallback)', () => {
    let base: string;
    let noCgroups: string;
    const said: string[] = [];
    let runner: SandboxRunner;
    before(async () => {
      base = await mkdtemp(join(tmpdir(), 'kiln-bwrap-nocg-'));
      await chmod(base, 0o711);
      noCgroups = await mkdtemp(join(tmpdir(), 'kiln-no-cgroup-'));
      runner = makeRunner({ cgroupRoot: noCgroups, log: (m) => said.push(m) });
    });
    after(async () => {
      await rm(base, { recursive: true, force: true });
      await rm(noCgroups, { recursive: true, force: true });
    });

    it('still runs, stops and cleans up a job, and says so once', T, async () => {
      const ok = await runJob(runner, base, { argv: ['/bin/sh', '-c', 'echo fine'] });
      assert.deepEqual([ok.r.exitCode, ok.out.stdout], [0, 'fine\n']);
      const mark = sleepMarker();
      const { r } = await runJob(runner, base, {
        argv: ['/bin/sh', '-c', `trap '' TERM; sleep ${mark} & sleep ${mark}`],
        limits: { ...TEST_LIMITS, timeoutSec: 1 },
      });
      assert.equal(r.outcome, 'timed_out');
      assert.deepEqual(await processesWith(mark), []);
      assert.equal(said.filter((m) => /WITHOUT memory\/pids limits/.test(m)).length, 1);
    });
  });

  describe('setup failures', () => {
    let base: string;
    before(async () => {
      base = await mkdtemp(join(tmpdir(), 'kiln-bwrap-fail-'));
      await chmod(base, 0o711);
    });
    after(async () => {
      await rm(base, { recursive: true, force: true });
    });
    const expectError = async (p: Promise<unknown>, code: string, message: RegExp): Promise<void> => {
      await assert.rejects(p, (err: unknown) => {
        assert.ok(err instanceof KilnError, String(err));
        assert.equal(err.code, code);
        assert.match(err.message, message);
        return true;
      });
    };

    it('names the Debian package when bwrap is missing', T, async () => {
      const runner = makeRunner({ bwrapPath: join(base, 'no-bwrap') });
      await expectError(
        runJob(runner, base, { argv: ['true'] }),
        'ERR_CONFIG',
        /Debian package "bubblewrap"/,
      );
    });

    it('rejects an unknown profile', T, async () => {
      await expectError(
        runJob(makeRunner(), base, { argv: ['true'], profile: 'no-such-profile' }),
        'ERR_VALIDATION',
        /unknown sandbox profile/,
      );
    });

    it('rejects a cwd that does not exist', T, async () => {
      await expectError(
        runJob(makeRunner(), base, { argv: ['true'], cwd: 'nope' }),
        'ERR_VALIDATION',
        /chdir/,
      );
    });

    it('explains a job directory the sandbox uid cannot reach', T, async () => {
      const closed = await mkdtemp(join(base, 'closed-'));
      await mkdir(join(closed, 'job'));
      await expectError(
        runJob(makeRunner(), base, { argv: ['true'], jobDir: join(closed, 'job') }),
        'ERR_CONFIG',
        /cannot reach .*chmod o\+x/,
      );
    });
  });
});
