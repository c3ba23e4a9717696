/** The job: what a client asks for, and what the farm answers about it. */
import { z } from 'zod';
import { PLATFORMS, type Platform } from './platforms.ts';

const digest = z.string().regex(/^[0-9a-f]{64}$/, 'must be a lower-case hex SHA-256 digest');
/** A relative POSIX path inside the job directory: no absolute path, no `..`, no NUL. */
export const relativePath = z
  .string()
  .min(1)
  .max(4096)
  .refine((p) => !p.startsWith('/') && !p.includes('\0') && !p.split('/').includes('..'), {
    message: 'must be a relative path inside the job directory (no leading /, no ..)',
  });

export { PLATFORMS, type Platform };

/** Resource limits; every field has a default so a client may send `{}`. */
export const limitsSchema = z
  .object({
    /** Wall-clock limit in seconds. @default 600 */
    timeoutSec: z.number().int().min(1).max(86_400).default(600),
    /** Grace period between SIGTERM and SIGKILL on stop or timeout. @default 10 */
    graceSec: z.number().int().min(0).max(300).default(10),
    /** Memory limit in MiB. @default 2048 */
    memoryMiB: z.number().int().min(16).max(1_048_576).default(2048),
    /** Maximum number of processes and threads. @default 512 */
    pids: z.number().int().min(8).max(65_536).default(512),
    /** Maximum bytes of stdout + stderr kept; more is dropped and reported. @default 16 MiB */
    logBytes: z
      .number()
      .int()
      .min(1024)
      .max(1 << 30)
      .default(16 << 20),
    /** Maximum bytes of the outputs tar; a larger one is not stored and the job fails. @default 4 GiB */
    outputBytes: z
      .number()
      .int()
      .min(1024)
      .max(2 ** 50)
      .default(4 * 1024 ** 3),
  })
  .strict();
export type Limits = z.infer<typeof limitsSchema>;

/** `POST /api/v1/jobs` body. Unknown fields are rejected. */
export const jobSpecSchema = z
  .object({
    platform: z.enum(PLATFORMS).default('linux-x86_64'),
    /** A toolchain preset (`name@platform`) or digest; absent: the builder's host tools (read-only). */
    toolchain: z.string().min(1).max(200).optional(),
    argv: z.array(z.string().max(131_072)).min(1).max(10_000),
    env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), z.string().max(131_072)).default({}),
    /** Working directory, relative to the job directory. @default "." */
    cwd: z.union([z.literal('.'), relativePath]).default('.'),
    /** The input tree: a tar (optionally gzip) blob already uploaded. */
    input: z
      .object({ digest, size: z.number().int().min(0) })
      .strict()
      .optional(),
    /** The input tree as a manifest blob (protocol/manifest.ts) whose file blobs are uploaded. */
    tree: z
      .object({
        digest,
        size: z
          .number()
          .int()
          .min(0)
          .max(256 << 20),
      })
      .strict()
      .optional(),
    /** Small files sent inside the request (the one-round-trip fast path), written after the tree. */
    inline: z
      .array(
        z
          .object({
            path: relativePath,
            data: z.string().max(64 << 20),
            executable: z.boolean().default(false),
          })
          .strict(),
      )
      .max(64)
      .optional(),
    /** Answer from the action cache when possible and store a successful result there. @default false */
    cache: z.boolean().default(false),
    /** Return stdout, stderr and the declared output files inside the job view (small results only). @default false */
    inlineResult: z.boolean().default(false),
    /** Paths (files or directories) under the job directory to bring back. */
    outputs: z.array(relativePath).max(1000).default([]),
    limits: limitsSchema.default(limitsSchema.parse({})),
    /** The sandbox profile name. @default "default" */
    profile: z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]{0,63}$/)
      .default('default'),
  })
  .strict()
  .refine((s) => !(s.input && s.tree), {
    message: 'give either input (a tar) or tree (a manifest), not both',
    path: ['tree'],
  });
export type JobSpecInput = z.input<typeof jobSpecSchema>;
export type JobSpec = z.infer<typeof jobSpecSchema>;

export const JOB_STATES = [
  'queued',
  'running',
  'succeeded',
  'failed',
  'killed',
  'timed_out',
  'cached',
] as const;
export type JobState = (typeof JOB_STATES)[number];
export const TERMINAL_STATES: ReadonlySet<JobState> = new Set([
  'succeeded',
  'failed',
  'killed',
  'timed_out',
  'cached',
]);

/** A blob reference: content digest and size in bytes. */
export interface BlobRef {
  digest: string;
  size: number;
}

/** What `GET /api/v1/jobs/{id}` returns. */
export interface JobView {
  id: string;
  state: JobState;
  platform: Platform;
  argv: string[];
  attempt: number;
  builder: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  exitCode: number | null;
  signal: string | null;
  /** Why the farm (not the command) failed the job, if it did. */
  error: { code: string; message: string } | null;
  /** A tar of the declared outputs that existed, once the job has finished. */
  outputs: BlobRef | null;
  /** Output paths that were declared but not produced. */
  missingOutputs: string[];
  /** Declared outputs that exist but were not brought back, and why (a link, a FIFO, a socket…). */
  rejectedOutputs: { path: string; reason: string }[];
  /** True when some log bytes were dropped because the job exceeded `limits.logBytes`. */
  logTruncated: boolean;
  /** With `inlineResult` (or from the action cache): output and files inline. */
  result?: InlineResult;
}

/** A finished job's output carried inline (base64), for small compiles. */
export interface InlineResult {
  stdout: string;
  stderr: string;
  files: { path: string; data: string; executable: boolean }[];
}

/** `POST /api/v1/jobs` answer. */
export interface CreatedJob {
  job: JobView;
  /** The job token: bound to this job and its builder, usable for job-scoped calls. */
  token: string;
  /**
   * The action key of a cacheable job (`cache: true`): what `GET /api/v1/actions/{key}` answers
   * once the job has succeeded (kiln cc's direct mode remembers it).
   */
  action?: string;
}

/**
 * One line of `GET /api/v1/jobs/{id}/logs` in NDJSON form. `id` is the log entry's id: a reader
 * that lost its connection resumes with `?after=<id>`; `attempt` tells output of a lost attempt
 * from the current one (a `restart` line starts a new attempt).
 */
export type LogLine =
  | { stream: 'stdout' | 'stderr'; data: string /* base64 */; id: string; attempt: number }
  | { restart: number; id: string }
  | { end: true; state: JobState; exitCode: number | null };
