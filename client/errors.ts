/**
 * The client's two errors. A {@link UserError} is the user's mistake: a clean message that says
 * what to do next, exit code 1. A {@link FarmError} is a failure of the farm (a coded answer of
 * the gateway, or no answer at all): its `code` is an {@link ErrorCode}, so callers (kiln cc's
 * fallback, `kiln toolchain rm`) switch on it. Anything else is a bug and shows its stack.
 */
import { isErrorCode, KilnError, type ErrorCode } from '../protocol/errors.ts';

export class UserError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = 1) {
    super(message);
    this.name = 'UserError';
    this.exitCode = exitCode;
  }
}

/** What to do next, for the codes where the user can do something. */
const HINTS: Partial<Record<ErrorCode, string>> = {
  ERR_UNAUTHENTICATED:
    'sign in with `kiln auth login`, or set KILN_TOKEN (kiln dev prints it) or `token = "…"` in kiln.toml',
  ERR_TOKEN_INVALID: 'get a new token and set KILN_TOKEN (kiln dev prints it) or `token` in kiln.toml',
};

export class FarmError extends KilnError {
  /** The HTTP status of the farm's answer; 0 when there was none (unreachable, timed out, a job's own error). */
  readonly httpStatus: number;
  constructor(
    code: ErrorCode,
    message: string,
    opts: { httpStatus?: number; cause?: unknown; retryAfter?: number } = {},
  ) {
    const hint = HINTS[code];
    super(code, hint ? `${message}; ${hint}` : message, opts);
    this.name = 'FarmError';
    this.httpStatus = opts.httpStatus ?? 0;
  }

  /**
   * The error of a farm answer with HTTP `status` and parsed `body`: the gateway's own code and
   * message when the body is kiln's error form, else ERR_UPSTREAM saying `what` failed.
   */
  static fromAnswer(status: number, body: unknown, what: string, retryAfter?: number): FarmError {
    const e = (body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
    const opts = { httpStatus: status, ...(retryAfter !== undefined ? { retryAfter } : {}) };
    if (e && typeof e.message === 'string' && typeof e.code === 'string') {
      const code = isErrorCode(e.code) ? e.code : 'ERR_UPSTREAM';
      return new FarmError(code, `${e.message} (${e.code})`, opts);
    }
    return new FarmError('ERR_UPSTREAM', `${what} failed: HTTP ${status}`, opts);
  }

  /** A job's own error (`job.error`), with the code as the farm named it. */
  static ofJob(error: { code: string; message: string }): FarmError {
    const code = isErrorCode(error.code) ? error.code : 'ERR_UPSTREAM';
    return new FarmError(code, `${error.message} (${error.code})`);
  }
}
