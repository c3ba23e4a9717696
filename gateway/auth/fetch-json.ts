/** Bounded JSON fetches for auth: identity-provider documents, key sets, proxy answers. */

/** What auth methods need from the runtime; tests pass a simulated clock. */
export interface AuthEnv {
  /** Milliseconds since the epoch. @default Date.now */
  now(): number;
  /** @default globalThis.fetch */
  fetch: typeof fetch;
}

/** The default environment: the real clock and the global fetch. */
export const realAuthEnv: AuthEnv = { now: () => Date.now(), fetch: (input, init) => fetch(input, init) };

/** Largest document read from an identity provider or a token proxy. */
const MAX_BYTES = 512 * 1024;

/**
 * GETs `url` and parses its JSON object body (at most 512 KiB). Throws an Error whose message
 * says what went wrong (status, size, not JSON), never echoing headers.
 */
export async function fetchJsonObject(
  env: AuthEnv,
  url: string,
  signal: AbortSignal,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Record<string, unknown> | null }> {
  const res = await env.fetch(url, { signal, headers: { accept: 'application/json', ...headers } });
  const text = await readCapped(res, MAX_BYTES);
  if (text === null) throw new Error(`${url} answered more than ${MAX_BYTES} bytes`);
  let body: unknown;
  try {
    body = text === '' ? null : (JSON.parse(text) as unknown);
  } catch {
    body = null;
  }
  const isObject = typeof body === 'object' && body !== null && !Array.isArray(body);
  return { status: res.status, body: isObject ? (body as Record<string, unknown>) : null };
}

/** The body as text, or null when it is longer than `max` bytes (the rest is not read). */
async function readCapped(res: Response, max: number): Promise<string | null> {
  if (res.body === null) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel();
      return null;
    }
    chunks.push(value);
  }
  const all = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.byteLength;
  }
  return new TextDecoder().decode(all);
}
