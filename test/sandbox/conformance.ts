/**
 * The sandbox-runner conformance suite: every SandboxRunner passes it.
 * Call `sandboxConformance(name, makeRunner)` from a `*.test.ts` file. Jobs use only POSIX sh,
 * env, sleep and pwd from the sandbox's system directories, and no timing is asserted: where
 * "while it runs" matters, the job waits for a file the test creates when it sees the output.
 */
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  JOB_MOUNT,
  type SandboxRequest,
  type SandboxResult,
  type SandboxRunner,
} from '../../builders/core/sandbox.ts';
import type { Limits } from '../../protocol/job.ts';

export interface SandboxConformanceOptions {
  /** Sandbox profile the jobs ask for. @default "default" */
  profile?: string;
  /**
   * The environment a job gets when it asks for none: the suite sends these keys itself, so
   * "exactly the given env" holds whatever a profile adds. @default PATH, HOME=/tmp, LANG=C.UTF-8
   */
  baseEnv?: Record<string, string>;
}

/** Small limits so that a broken stop shows up as a failed test, not a hung one. */
export const TEST_LIMITS: Limits = {
  timeoutSec: 30,
  graceSec: 1,
  memoryMiB: 256,
  pids: 128,
  logBytes: 1 << 20,
  outputBytes: 1 << 30,
  diskMiB: 1024,
};
const T = { timeout: 60_000 };

/** What a job printed, with the order in which chunks and test events happened. */
export interface Captured {
  stdout: string;
  stderr: string;
  /** "stdout:<chunk>", "stderr:<chunk>" and test markers, in arrival order. */
  events: string[];
}

/** Runs `argv` in a fresh job directory under `base`; `react` sees every chunk as it arrives. */
export async function runJob(
  runner: SandboxRunner,
  base: string,
  req: Partial<Omit<SandboxRequest, 'onOutput'>> & { argv: string[] },
  react?: (c: Captured, jobDir: string) => void,
): Promise<{ r: SandboxResult; out: Captured; jobDir: string }> {
  const jobDir = req.jobDir ?? (await mkdtemp(join(base, 'job-')));
  const out: Captured = { stdout: '', stderr: '', events: [] };
  const r = await runner.run({
    jobId: `conf-${process.pid}-${randomInt(1e9)}`,
    env: { PATH: '/usr/bin:/bin', HOME: '/tmp', LANG: 'C.UTF-8' },
    cwd: '.',
    limits: TEST_LIMITS,
    profile: 'default',
    signal: new AbortController().signal,
    ...req,
    jobDir,
    onOutput(stream, chunk) {
      const text = Buffer.from(chunk).toString('utf8');
      out[stream] += text;
      out.events.push(`${stream}:${text}`);
      react?.(out, jobDir);
    },
  });
  return { r, out, jobDir };
}

/** Host processes whose command line contains `marker` (Linux /proc; `ps` elsewhere). */
export async function processesWith(marker: string): Promise<number[]> {
  const found: number[] = [];
  for (const n of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(n)) continue;
    const cmd = await readFile(`/proc/${n}/cmdline`, 'utf8').catch(() => '');
    if (cmd.replaceAll('\0', ' ').includes(marker)) found.push(Number(n));
  }
  return found;
}

/** A unique `sleep` argument, so a leftover process can be found by its command line. */
export function sleepMarker(): string {
  return `600.${randomInt(100_000, 999_999)}`;
}

/** Registers the suite's tests under `describe(name)`. */
export function sandboxConformance(
  name: string,
  makeRunner: () => Promise<SandboxRunner>,
  opts: SandboxConformanceOptions = {},
): void {
  const baseEnv = opts.baseEnv ?? { PATH: '/usr/bin:/bin', HOME: '/tmp', LANG: 'C.UTF-8' };
  const profile = opts.profile ?? 'default';
  describe(`SandboxRunner conformance: ${name}`, () => {
    let runner: SandboxRunner;
    let base: string;
    const job = (
      req: Partial<Omit<SandboxRequest, 'onOutput'>> & { argv: string[] },
      react?: (c: Captured, jobDir: string) => void,
    ) => runJob(runner, base, { env: baseEnv, profile, ...req }, react);
    const sh = (script: string): string[] => ['/bin/sh', '-c', script];

    before(async () => {
      runner = await makeRunner();
      base = await mkdtemp(join(tmpdir(), 'kiln-sandbox-conf-'));
      await chmod(base, 0o711); // the sandbox's uid must be able to reach the job directories
    });
    after(async () => {
      await rm(base, { recursive: true, force: true });
    });

    it('has a name', () => {
      assert.equal(typeof runner.name, 'string');
      assert.ok(runner.name.length > 0);
    });

    for (const code of [0, 3, 42]) {
      it(`propagates exit code ${code}`, T, async () => {
        const { r } = await job({ argv: sh(`exit ${code}`) });
        assert.deepEqual([r.outcome, r.exitCode, r.signal], ['exited', code, null]);
        assert.equal(typeof r.durationMs, 'number');
      });
    }

    it('separates stdout from stderr and streams both while the job runs', T, async () => {
      // The job cannot finish unless its first line reached us while it was running: it waits
      // for the file we create on seeing that line.
      const script = [
        'echo out-1; echo err-1 >&2',
        'while [ ! -e go ]; do sleep 0.05; done',
        'echo out-2; sleep 0.5; echo err-2 >&2; sleep 0.5; echo out-3; sleep 0.5',
      ].join('\n');
      const { r, out } = await job(
        { argv: sh(script), limits: { ...TEST_LIMITS, timeoutSec: 20 } },
        (c, dir) => {
          if (c.stdout.includes('out-1') && !c.events.includes('marker:go')) {
            c.events.push('marker:go');
            writeFileSync(join(dir, 'go'), '');
          }
        },
      );
      assert.equal(r.outcome, 'exited', 'the job never saw "go": output was not streamed while it ran');
      assert.equal(r.exitCode, 0);
      assert.equal(out.stdout, 'out-1\nout-2\nout-3\n');
      assert.equal(out.stderr, 'err-1\nerr-2\n');
      const go = out.events.indexOf('marker:go');
      const firstOut2 = out.events.findIndex((e) => e.includes('out-2'));
      assert.ok(go >= 0 && firstOut2 > go, `order: ${JSON.stringify(out.events)}`);
    });

    it('gives the command exactly the env it was given', T, async () => {
      process.env.KILN_CONFORMANCE_CANARY = 'leaked';
      try {
        const env = { ...baseEnv, KILN_A: '1', KILN_SPACES: 'a b  c', EMPTY: '' };
        const { r, out } = await job({ argv: ['/usr/bin/env'], env });
        assert.equal(r.exitCode, 0);
        const seen = Object.fromEntries(
          out.stdout
            .split('\n')
            .filter(Boolean)
            .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
        );
        // bwrap (like a shell) always sets PWD; accepted only as the working directory itself.
        if ('PWD' in seen && !('PWD' in env)) {
          assert.equal(seen.PWD, JOB_MOUNT);
          delete seen.PWD;
        }
        assert.deepEqual(seen, env);
        assert.ok(!out.stdout.includes('KILN_CONFORMANCE_CANARY'));
      } finally {
        delete process.env.KILN_CONFORMANCE_CANARY;
      }
    });

    it('runs in the requested cwd inside the job directory', T, async () => {
      const jobDir = await mkdtemp(join(base, 'job-'));
      await mkdir(join(jobDir, 'sub', 'dir'), { recursive: true });
      const { r, out } = await job({ argv: sh('pwd; echo here > here.txt'), jobDir, cwd: 'sub/dir' });
      assert.equal(r.exitCode, 0);
      assert.equal(out.stdout, `${JOB_MOUNT}/sub/dir\n`);
      assert.equal(await readFile(join(jobDir, 'sub', 'dir', 'here.txt'), 'utf8'), 'here\n');
    });

    it('leaves files written in the job directory on the host', T, async () => {
      const jobDir = await mkdtemp(join(base, 'job-'));
      await mkdir(join(jobDir, 'in'));
      writeFileSync(join(jobDir, 'in', 'src.txt'), 'input\n');
      const { r } = await job({
        argv: sh('mkdir -p out/deep && cat in/src.txt > out/deep/copy.txt && printf x > in/src.txt'),
        jobDir,
      });
      assert.equal(r.exitCode, 0);
      assert.equal(await readFile(join(jobDir, 'out', 'deep', 'copy.txt'), 'utf8'), 'input\n');
      assert.equal(await readFile(join(jobDir, 'in', 'src.txt'), 'utf8'), 'x');
    });

    it('stops a job at its time limit with outcome timed_out', T, async () => {
      const mark = sleepMarker();
      const { r } = await job({ argv: sh(`sleep ${mark}`), limits: { ...TEST_LIMITS, timeoutSec: 1 } });
      assert.equal(r.outcome, 'timed_out');
      assert.notEqual(r.exitCode, 0);
      assert.deepEqual(await processesWith(mark), []);
    });

    it('sends SIGTERM to the job first, so it can clean up', T, async () => {
      const ctl = new AbortController();
      const script = `trap 'echo got-term; exit 7' TERM; sleep ${sleepMarker()} & echo ready; wait`;
      const { r, out } = await job(
        { argv: sh(script), signal: ctl.signal, limits: { ...TEST_LIMITS, graceSec: 30 } },
        (c) => c.stdout.includes('ready') && ctl.abort(),
      );
      assert.equal(r.outcome, 'killed');
      assert.match(out.stdout, /got-term/);
      assert.equal(r.exitCode, 7);
    });

    it('kills a job that ignores SIGTERM once the grace period is over', T, async () => {
      const ctl = new AbortController();
      const mark = sleepMarker();
      const { r } = await job(
        { argv: sh(`trap '' TERM; sleep ${mark} & echo ready; wait`), signal: ctl.signal },
        (c) => c.stdout.includes('ready') && ctl.abort(),
      );
      assert.equal(r.outcome, 'killed');
      assert.notEqual(r.exitCode, 0);
      assert.deepEqual(await processesWith(mark), []);
    });

    it('does not start a job whose signal is already aborted', T, async () => {
      const jobDir = await mkdtemp(join(base, 'job-'));
      const { r } = await job({ argv: sh('echo ran > ran.txt'), jobDir, signal: AbortSignal.abort() });
      assert.equal(r.outcome, 'killed');
      await assert.rejects(readFile(join(jobDir, 'ran.txt')), { code: 'ENOENT' });
    });

    it('leaves no process behind when the job exits with children in the background', T, async () => {
      const a = sleepMarker();
      const b = sleepMarker();
      // `b` is double-forked, so its parent is gone before the job ends.
      const { r, out } = await job({ argv: sh(`sleep ${a} & sh -c 'sleep ${b} &' ; echo started`) });
      assert.equal(r.exitCode, 0);
      assert.equal(out.stdout, 'started\n');
      assert.deepEqual(await processesWith(a), []);
      assert.deepEqual(await processesWith(b), []);
    });
  });
}
