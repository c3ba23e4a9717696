/** The job: what a client asks for, and what the farm answers about it. */
import { z } from 'zod';
import { decodeBase64 } from './base64.ts';
import { PLATFORMS, type Platform } from './platforms.ts';
import type { SignatureView } from './result-signature.ts';

/** A lower-case hex SHA-256 digest. */
export const digestSchema = z.string().regex(/^[0-9a-f]{64}$/, 'must be a lower-case hex SHA-256 digest');
const digest = digestSchema;
/** A relative POSIX path inside the job directory: no absolute path, no `..`, no NUL. */
export const relativePath = z
  .string()
  .min(1)
  .max(4096)
  .refine((p) => !p.startsWith('/') && !p.includes('\0') && !p.split('/').includes('..'), {
    message: 'must be a relative path inside the job directory (no leading /, no ..)',
  });

export { PLATFORMS, type Platform };

/** The validators of each resource limit: what any farm can express at all. */
export const LIMIT_FIELDS = {
  /** Wall-clock limit in seconds. */
  timeoutSec: z.number().int().min(1).max(604_800),
  /** Grace period between SIGTERM and SIGKILL on stop or timeout. */
  graceSec: z.number().int().min(0).max(3600),
  /** Memory limit in MiB (the job's /tmp, a tmpfs, counts in it). */
  memoryMiB: z.number().int().min(16).max(16_777_216),
  /** Maximum number of processes and threads. */
  pids: z.number().int().min(8).max(4_194_304),
  /** CPU bandwidth in CPUs (1.5 = one and a half); absent: no CPU limit. */
  cpus: z.number().min(0.01).max(4096),
  /** Maximum bytes of stdout + stderr kept; more is dropped and reported. */
  logBytes: z
    .number()
    .int()
    .min(1024)
    .max(2 ** 50),
  /** Maximum bytes of the outputs tar; a larger one is not stored and the job fails. */
  outputBytes: z
    .number()
    .int()
    .min(1024)
    .max(2 ** 50),
  /** Size of the job directory's file system in MiB (inputs, outputs and whatever the job writes). */
  diskMiB: z
    .number()
    .int()
    .min(16)
    .max(2 ** 30),
} as const;

/** What a job gets for a limit neither it nor the farm's policy names. */
export const LIMIT_DEFAULTS = {
  timeoutSec: 600,
  graceSec: 10,
  memoryMiB: 2048,
  pids: 512,
  logBytes: 16 << 20,
  outputBytes: 4 * 1024 ** 3,
  diskMiB: 10_240,
} as const;

/**
 * Resolved limits, as granted by the gateway and enforced by the builder; every field but `cpus`
 * has a default, so `limitsSchema.parse({})` is a full set.
 */
export const limitsSchema = z
  .object({
    timeoutSec: LIMIT_FIELDS.timeoutSec.default(LIMIT_DEFAULTS.timeoutSec),
    graceSec: LIMIT_FIELDS.graceSec.default(LIMIT_DEFAULTS.graceSec),
    memoryMiB: LIMIT_FIELDS.memoryMiB.default(LIMIT_DEFAULTS.memoryMiB),
    pids: LIMIT_FIELDS.pids.default(LIMIT_DEFAULTS.pids),
    cpus: LIMIT_FIELDS.cpus.optional(),
    logBytes: LIMIT_FIELDS.logBytes.default(LIMIT_DEFAULTS.logBytes),
    outputBytes: LIMIT_FIELDS.outputBytes.default(LIMIT_DEFAULTS.outputBytes),
    diskMiB: LIMIT_FIELDS.diskMiB.default(LIMIT_DEFAULTS.diskMiB),
  })
  .strict();
export type Limits = z.infer<typeof limitsSchema>;
export type LimitName = keyof typeof LIMIT_FIELDS;

/** The limits a client asks for: any subset; the gateway's policy fills in and bounds the rest. */
export const limitsRequestSchema = z
  .object({
    timeoutSec: LIMIT_FIELDS.timeoutSec.optional(),
    graceSec: LIMIT_FIELDS.graceSec.optional(),
    memoryMiB: LIMIT_FIELDS.memoryMiB.optional(),
    pids: LIMIT_FIELDS.pids.optional(),
    cpus: LIMIT_FIELDS.cpus.optional(),
    logBytes: LIMIT_FIELDS.logBytes.optional(),
    outputBytes: LIMIT_FIELDS.outputBytes.optional(),
    diskMiB: LIMIT_FIELDS.diskMiB.optional(),
  })
  .strict();
export type LimitsRequest = z.infer<typeof limitsRequestSchema>;

/**
 * Linux refuses a single argument or environment string of 128 KiB or more (MAX_ARG_STRLEN) and
 * a command line whose strings pass ARG_MAX; bwrap carries the environment on its own command
 * line too. So each string stays under 128 KiB and argv + env together under this.
 */
export const ARGV_ENV_MAX_BYTES = 512 * 1024;
const ARG_STRING_MAX_BYTES = 128 * 1024 - 1;
const utf8 = new TextEncoder();
const bytesOf = (s: string): number => utf8.encode(s).byteLength;
const argString = z
  .string()
  .refine((s) => !s.includes('\0'), 'must not contain a NUL byte')
  .refine((s) => bytesOf(s) <= ARG_STRING_MAX_BYTES, `must be under ${ARG_STRING_MAX_BYTES + 1} bytes`);
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Keys JSON can carry but a JavaScript object would lose or mistake for something else. */
const RESERVED_KEYS = ['__proto__', 'constructor', 'prototype'];
const envSchema = z
  .custom<Record<string, unknown>>((v) => typeof v === 'object' && v !== null && !Array.isArray(v), {
    message: 'must be an object of name → value strings',
  })
  .refine((v) => !RESERVED_KEYS.some((k) => Object.prototype.hasOwnProperty.call(v, k)), {
    message: `must not name ${RESERVED_KEYS.join(', ')}`,
  })
  .pipe(z.record(z.string().regex(ENV_NAME), argString))
  .refine(
    (env) => Object.entries(env).every(([k, v]) => bytesOf(k) + 1 + bytesOf(v) <= ARG_STRING_MAX_BYTES),
    {
      message: `each NAME=value must be under ${ARG_STRING_MAX_BYTES + 1} bytes`,
    },
  );
/** Most bytes of one inline file (64 MiB of base64 in the JSON form). */
export const INLINE_FILE_MAX_BYTES = 48 << 20;
/** Most files a job carries inline; more go through the blob store (a `tree`). */
export const INLINE_FILES_MAX = 64;
/** Canonical, padded base64, decoded to its bytes as it is checked (protocol/base64.ts). */
const base64 = z
  .string()
  .max(64 << 20)
  .transform((s, ctx) => {
    const bytes = decodeBase64(s);
    if (bytes) return bytes;
    ctx.issues.push({ code: 'custom', message: 'must be valid padded base64', input: s });
    return z.NEVER;
  });

/** Bytes argv and env take on a command line (each string with its NUL, env as NAME=value). */
export function argvEnvBytes(argv: readonly string[], env: Record<string, string>): number {
  let n = 0;
  for (const a of argv) n += bytesOf(a) + 1;
  for (const [k, v] of Object.entries(env)) n += bytesOf(k) + bytesOf(v) + 2;
  return n;
}

/** The sandbox profile of a job that names none. */
export const DEFAULT_PROFILE = 'default';

/** The fields of a job spec but `inline`, whose form depends on the body that carries it. */
const specFields = {
  platform: z.enum(PLATFORMS).default('linux-x86_64'),
  /** A toolchain preset (`name@platform`) or digest; absent: the builder's host tools (read-only). */
  toolchain: z.string().min(1).max(200).optional(),
  argv: z.array(argString).min(1).max(10_000),
  env: envSchema.default({}),
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
  /** Answer from the action cache when possible and store a successful result there. @default false */
  cache: z.boolean().default(false),
  /** Return stdout, stderr and the declared output files inside the job view (small results only). @default false */
  inlineResult: z.boolean().default(false),
  /** Paths (files or directories) under the job directory to bring back. */
  outputs: z.array(relativePath).max(1000).default([]),
  /** Asked limits; the gateway grants them within its policy (gateway/limits-policy.ts). */
  limits: limitsRequestSchema.default({}),
  /** The sandbox profile name. @default "default" */
  profile: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]{0,63}$/)
    .default(DEFAULT_PROFILE),
};

/** A job spec's schema with `inline` entries of the given form. Unknown fields are rejected. */
function specSchema<E extends z.ZodType>(inlineEntry: E) {
  return z
    .object({
      ...specFields,
      /** Small files sent inside the request (the one-round-trip fast path), written after the tree. */
      inline: z.array(inlineEntry).max(INLINE_FILES_MAX).optional(),
    })
    .strict()
    .refine((s) => !(s.input && s.tree), {
      message: 'give either input (a tar) or tree (a manifest), not both',
      path: ['tree'],
    })
    .refine((s) => argvEnvBytes(s.argv, s.env) <= ARGV_ENV_MAX_BYTES, {
      message: `argv and env together must be at most ${ARGV_ENV_MAX_BYTES} bytes`,
      path: ['argv'],
    });
}

/** `POST /api/v1/jobs` JSON body: inline files carry their bytes as base64 `data`. */
export const jobSpecSchema = specSchema(
  z
    .object({
      path: relativePath,
      data: base64,
      executable: z.boolean().default(false),
    })
    .strict(),
);

/**
 * The spec inside a binary job body (protocol/job-body.ts): each inline file is named by its size
 * and SHA-256, and its bytes follow the spec in the body.
 */
export const framedSpecSchema = specSchema(
  z
    .object({
      path: relativePath,
      size: z.number().int().min(0).max(INLINE_FILE_MAX_BYTES),
      digest,
      executable: z.boolean().default(false),
    })
    .strict(),
);
export type FramedSpec = z.infer<typeof framedSpecSchema>;

export type JobSpecInput = z.input<typeof jobSpecSchema>;

/** An inline file as the farm carries it once received: its bytes, never their base64. */
export interface InlineInput {
  path: string;
  data: Uint8Array;
  executable: boolean;
  /** The SHA-256 of `data`, when the body named it (and it was checked). */
  digest?: string;
}

/** A job spec as asked (limits: any subset), inline files as bytes, whichever body carried it. */
export type JobSpec = Omit<z.infer<typeof jobSpecSchema>, 'inline'> & { inline?: InlineInput[] };
/** A job spec as stored and run: the limits are the ones the gateway granted. */
export type GrantedJobSpec = Omit<JobSpec, 'limits'> & { limits: Limits };

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
  /** The limits the gateway granted (what the builder enforces); absent on a cached answer. */
  limits?: Limits;
  /** Declared outputs that exist but were not brought back, and why (a link, a FIFO, a socket…). */
  rejectedOutputs: { path: string; reason: string }[];
  /** True when some log bytes were dropped because the job exceeded `limits.logBytes`. */
  logTruncated: boolean;
  /** With `inlineResult` (or from the action cache): output and files inline. */
  result?: InlineResult;
  /**
   * The producing builder's signature over the result, and whether its key is a registered
   * builder's (protocol/result-signature.ts); absent while the job runs and for results of
   * builders older than signed results.
   */
  signature?: SignatureView;
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

/** A spec with every limit it did not ask for at its default (no policy: tests and tools). */
export function withDefaultLimits(spec: JobSpec): GrantedJobSpec {
  return { ...spec, limits: limitsSchema.parse(spec.limits) };
}
