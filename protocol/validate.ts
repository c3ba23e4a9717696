/** zod validation with every problem reported at once, each with its path. */
import type { z } from 'zod';
import { KilnError, type ErrorCode } from './errors.ts';

/** Formats zod issues as `path: message` lines. */
export function formatIssues(issues: readonly z.core.$ZodIssue[], root = ''): string[] {
  return issues.map((i) => {
    const path = [root, ...i.path.map(String)].filter(Boolean).join('.');
    return `${path || '(root)'}: ${i.message}`;
  });
}

/** Parses `value` or throws a KilnError listing every problem. */
export function parseOrThrow<S extends z.ZodType>(
  schema: S,
  value: unknown,
  what: string,
  code: ErrorCode = 'ERR_VALIDATION',
): z.infer<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const problems = formatIssues(r.error.issues);
  throw new KilnError(code, `invalid ${what}: ${problems.join('; ')}`, { detail: { problems } });
}
