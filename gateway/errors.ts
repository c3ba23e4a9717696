/** The one place errors become HTTP responses: `{ error: { code, message } }`. */
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { KilnError } from '../protocol/errors.ts';

/** Hono `onError`: coded errors keep their status; anything else is a 500 that hides details. */
export function errorResponse(err: Error, c: Context, log: (msg: string) => void): Response {
  if (err instanceof KilnError) {
    const headers: Record<string, string> = {};
    if (err.retryAfter !== undefined) headers['Retry-After'] = String(err.retryAfter);
    // The body was not read to its end: the connection cannot carry another request.
    if (err.code === 'ERR_TOO_LARGE') headers.Connection = 'close';
    if (err.code === 'ERR_UNAUTHENTICATED' || err.code === 'ERR_TOKEN_INVALID')
      headers['WWW-Authenticate'] = 'Bearer';
    return c.json(err.toJSON(), err.status as 400, headers);
  }
  if (err instanceof HTTPException) {
    const status = err.status;
    const code = status === 413 ? 'ERR_TOO_LARGE' : status === 404 ? 'ERR_NOT_FOUND' : 'ERR_BAD_REQUEST';
    return c.json({ error: { code, message: err.message || 'bad request' } }, status);
  }
  if (c.req.raw.signal.aborted) {
    // The client went away mid-request: nobody reads this answer, and it is not the farm's fault.
    log(`client went away during ${c.req.method} ${c.req.path}`);
    return c.json({ error: { code: 'ERR_BAD_REQUEST', message: 'the client closed the request' } }, 400);
  }
  log(`internal error on ${c.req.method} ${c.req.path}: ${err.stack ?? String(err)}`);
  return c.json({ error: { code: 'ERR_INTERNAL', message: 'internal error (logged by the gateway)' } }, 500);
}

/** Reads a JSON body, mapping malformed JSON to ERR_BAD_JSON. */
export async function readJson(c: Context): Promise<unknown> {
  const type = c.req.header('content-type') ?? '';
  if (!type.includes('application/json')) {
    throw new KilnError('ERR_BAD_REQUEST', 'expected a JSON body (Content-Type: application/json)');
  }
  const text = await c.req.text();
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new KilnError('ERR_BAD_JSON', `malformed JSON: ${(err as Error).message}`);
  }
}
