/**
 * The sandbox-runner port: run one job's command, isolated, with limits, streaming its output.
 * Implementations: builders/linux/bwrap-runner.ts (bubblewrap + cgroups) and, later,
 * builders/freebsd/pot-runner.ts. All pass test/sandbox/conformance.ts.
 */
import type { Limits } from '../../protocol/job.ts';

export interface SandboxRequest {
  /** Job id, used to name the cgroup (or jail). */
  jobId: string;
  /**
   * Host directory holding the job's files; the only writable place, seen inside as
   * {@link JOB_MOUNT}. While the job runs the path may be a link to where the sandbox sees them
   * (a sandbox made ready ahead has its own directory); once `run` resolves it is the directory again.
   */
  jobDir: string;
  argv: string[];
  /** The whole environment of the command (the host's is never inherited). */
  env: Record<string, string>;
  /** Working directory relative to the job directory ("." for its root). */
  cwd: string;
  limits: Limits;
  /** Sandbox profile name (a file in bwrap-profiles/ or pot-templates/). */
  profile: string;
  /**
   * Host directory of an unpacked toolchain to use as the read-only root, or undefined to use
   * the host's system directories read-only (until toolchains are mandatory).
   */
  rootDir?: string;
  /** Host directory to bind at /tmp instead of the profile's tmpfs there (the job disk's `tmp`). */
  tmpDir?: string;
  /**
   * Called with each chunk of output as it is produced. A promise asks the runner to read no more
   * of the job's output until it settles (the job's writes then block), so output is never
   * buffered faster than it is consumed.
   */
  onOutput(stream: 'stdout' | 'stderr', chunk: Uint8Array): void | Promise<void>;
  /** Aborting stops the job: SIGTERM to every process of it, `limits.graceSec`, then SIGKILL. */
  signal: AbortSignal;
}

export interface SandboxResult {
  /** How the job ended: its own exit, a stop through `signal`, or `limits.timeoutSec`. */
  outcome: 'exited' | 'killed' | 'timed_out';
  /** Exit status when the main process exited; null when it died of a signal. */
  exitCode: number | null;
  /** Name of the signal that ended the main process, if any ("SIGKILL"). */
  signal: string | null;
  /** True when the memory limit was hit (the kernel's OOM killer acted). */
  oomKilled: boolean;
  durationMs: number;
  /**
   * Where the time went, in ms per step of the runner (for example `prepare`, `cgroup`, `start`,
   * `run`, `settle`, `drain`), in order: for benches and metrics, never for decisions.
   */
  steps?: Record<string, number>;
}

export interface SandboxRunner {
  readonly name: string;
  run(req: SandboxRequest): Promise<SandboxResult>;
  /**
   * Starts keeping sandboxes of `profile` ready ahead of jobs (of `limits`, else like the last job
   * of the profile), where the runner can; resolves once one is ready (or could not be made: the
   * runner logs why, and jobs start cold).
   */
  prepare?(profile: string, limits?: Limits): Promise<void>;
  /** Ends what the runner keeps between jobs (sandboxes made ready ahead); idempotent. */
  close?(): Promise<void>;
}

/** Where the job directory is mounted inside every sandbox. */
export const JOB_MOUNT = '/job';
