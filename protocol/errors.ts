/**
 * Coded errors shared by gateway, builders and client. Every error that crosses the wire is
 * `{ error: { code, message } }` with the HTTP status listed here; a job's `error` (set by a
 * builder or the sweeper) carries a code from the same table. The last block is the client's own:
 * codes it gives a farm failure that came without one of kiln's answers (never sent by a gateway).
 */
export const ERROR_STATUS = {
  ERR_BAD_REQUEST: 400,
  ERR_VALIDATION: 400,
  ERR_BAD_JSON: 400,
  ERR_DIGEST_MISMATCH: 400,
  ERR_BLOBS_MISSING: 409,
  ERR_UNAUTHENTICATED: 401,
  ERR_CREDENTIAL_TOO_LARGE: 431,
  ERR_HEADERS_TOO_LARGE: 431,
  ERR_FORBIDDEN: 403,
  ERR_NOT_FOUND: 404,
  ERR_JOB_NOT_FOUND: 404,
  ERR_CONFLICT: 409,
  ERR_JOB_NOT_FINISHED: 409,
  ERR_TOO_LARGE: 413,
  ERR_RATE_LIMITED: 429,
  ERR_URL_TOO_LONG: 414,
  ERR_REQUEST_TIMEOUT: 408,
  ERR_ARCHIVE_INVALID: 422,
  ERR_NO_CAPACITY: 503,
  ERR_UNAVAILABLE: 503,
  ERR_INTERNAL: 500,
  ERR_TOKEN_INVALID: 401,
  ERR_JOB_LOST: 500,
  ERR_CONFIG: 500,
  /** A job's error: the sandbox hit its memory limit. */
  ERR_OOM: 500,
  /** A job's error: its job directory's file system (limits.diskMiB) filled up. */
  ERR_DISK_QUOTA: 507,
  /** Client side: no answer (connection refused, reset, DNS). */
  ERR_UNREACHABLE: 503,
  /** Client side: no answer in time. */
  ERR_TIMEOUT: 504,
  /** Client side: an answer that is not kiln's (a proxy's or an object store's), or a code this client does not know. */
  ERR_UPSTREAM: 502,
  /** A builder's work disk is full. */
  ERR_NO_SPACE: 507,
  /** Client side: a result whose bytes do not match its builder's signature (or that has none); nothing was written. */
  ERR_BAD_SIGNATURE: 502,
  /** Client side (--verify-signer): a result signed by a key that is not a registered builder's; nothing was written. */
  ERR_UNKNOWN_SIGNER: 502,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

/** True when `code` is one of the {@link ErrorCode}s. */
export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERROR_STATUS, code);
}

/** An error with a stable code, an HTTP status derived from it, and an optional cause. */
export class KilnError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** Extra machine-readable detail sent with the error (for example the missing digests). */
  readonly detail: Record<string, unknown> | undefined;
  /** Seconds a client should wait before retrying (503 only). */
  readonly retryAfter: number | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    opts: { cause?: unknown; detail?: Record<string, unknown>; retryAfter?: number } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'KilnError';
    this.code = code;
    this.status = ERROR_STATUS[code];
    this.detail = opts.detail;
    this.retryAfter = opts.retryAfter;
  }

  /** The wire form: `{ error: { code, message, ...detail } }`. */
  toJSON(): { error: { code: ErrorCode; message: string } & Record<string, unknown> } {
    return { error: { code: this.code, message: this.message, ...this.detail } };
  }
}
