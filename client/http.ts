/**
 * The one HTTP client of every kiln command, `kiln cc` included. It is built on node:http(s):
 * cheaper to load than fetch, and it works where fetch does not (Node for Windows under Wine 8).
 * A gateway path ("/api/v1/…") is sent with the kiln credential; an absolute URL (a presigned
 * store URL) never is. No answer becomes a {@link FarmError} ERR_UNREACHABLE or ERR_TIMEOUT;
 * {@link call} also turns an answer that is not 2xx/3xx into the gateway's coded FarmError.
 */
import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { rootCertificates } from 'node:tls';
import type { Writable } from 'node:stream';
import { FarmError } from './errors.ts';

/** Where the farm is and the credential for it. */
export interface Api {
  /** The gateway, e.g. http://127.0.0.1:8420 (no trailing slash). */
  base: string;
  /** Bearer token sent to the gateway, never to another host. */
  token: string | null;
  /** TLS to the gateway: a private CA, and a client certificate (PEM contents). */
  tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer };
  /** A private CA trusted (beside the system's roots) for the store's presigned URLs (PEM contents). */
  storeCa?: Buffer;
  /** Where the credential comes from when `token` is null (a login, a CI token); resolved lazily. */
  credential?: () => Promise<string | null>;
  /** How long idempotent calls are retried through gateway restarts and 503s (client/retry.ts). @default 60000 */
  retryMs?: number;
  /** Told about each retry (the CLI prints a notice on stderr). */
  onRetry?(err: Error, delayMs: number): void;
}

export interface HttpRequest {
  /** @default "GET" */
  method?: string;
  headers?: Record<string, string>;
  /** A value sent as JSON (Content-Type application/json). */
  json?: unknown;
  /** Bytes sent as they are (name their Content-Type in `headers`). */
  body?: Uint8Array;
  /** Streams the body into the request (give its Content-Length in `headers`). */
  write?: (req: Writable) => Promise<void>;
  /** ERR_TIMEOUT after this many ms with no byte moving. @default no limit */
  timeoutMs?: number;
  /** Aborting rejects with the abort error (not a FarmError). */
  signal?: AbortSignal;
  /** What was asked, for the message of an answer that is not kiln's ("… failed: HTTP 502"). @default "METHOD PATH" */
  what?: string;
}

/** An answer of any status. Its body is read once: as `stream`, or with bytes() or json(). */
export interface HttpAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  stream: IncomingMessage;
  bytes(): Promise<Buffer>;
  json<T>(): Promise<T>;
}

const storeAgents = new WeakMap<Buffer, HttpsAgent>();
const gatewayAgents = new WeakMap<NonNullable<Api['tls']>, HttpsAgent>();

/**
 * One keep-alive agent per gateway TLS setting (its CA, client certificate and key): a daemon's
 * or a long command's calls reuse one connection, as they do over plain HTTP (Node's global
 * agent keeps sockets alive), instead of a TLS handshake per request.
 */
function gatewayAgent(tls: NonNullable<Api['tls']>): HttpsAgent {
  let agent = gatewayAgents.get(tls);
  if (!agent) {
    agent = new HttpsAgent({ keepAlive: true, ...tls });
    gatewayAgents.set(tls, agent);
  }
  return agent;
}

/** One keep-alive agent per store CA: the system's roots and that CA, no client certificate. */
function storeAgent(ca: Buffer): HttpsAgent {
  let agent = storeAgents.get(ca);
  if (!agent) {
    agent = new HttpsAgent({ keepAlive: true, ca: [...rootCertificates, ca.toString('utf8')] });
    storeAgents.set(ca, agent);
  }
  return agent;
}

function isGatewayPath(target: string): boolean {
  return !/^https?:\/\//i.test(target);
}

function answerOf(res: IncomingMessage, where: string): HttpAnswer {
  const bytes = async (): Promise<Buffer> => {
    const chunks: Buffer[] = [];
    try {
      for await (const c of res) chunks.push(c as Buffer);
    } catch (err) {
      const why = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      throw new FarmError('ERR_UNREACHABLE', `the answer of ${where} broke off (${why})`, { cause: err });
    }
    return Buffer.concat(chunks);
  };
  return {
    status: res.statusCode ?? 0,
    headers: res.headers,
    stream: res,
    bytes,
    async json<T>(): Promise<T> {
      const text = (await bytes()).toString('utf8');
      try {
        return JSON.parse(text) as T;
      } catch {
        throw new FarmError('ERR_UPSTREAM', `${where} answered HTTP ${res.statusCode} without JSON`, {
          httpStatus: res.statusCode ?? 0,
        });
      }
    },
  };
}

/** The error for a request that got no answer. */
function noAnswer(where: string, gateway: boolean, failure: unknown, timeoutMs?: number): FarmError {
  const err = failure as NodeJS.ErrnoException | null;
  if (err?.code === 'ETIMEDOUT' && timeoutMs !== undefined)
    return new FarmError('ERR_TIMEOUT', `${where} did not answer within ${timeoutMs / 1000} s`, {
      cause: err,
    });
  const why = err?.code ?? err?.message ?? 'the connection closed';
  const untrusted = /CERT|SELF_SIGNED|UNABLE_TO_(VERIFY|GET)/.test(err?.code ?? '');
  const next = untrusted
    ? gateway
      ? "; its TLS certificate is not trusted: set KILN_TLS_CA (tls.ca in kiln.toml) to the farm's CA"
      : "; its TLS certificate is not trusted: set KILN_TLS_STORE_CA (tls.storeCa), or KILN_TLS_CA, to the store's CA"
    : gateway
      ? '; is it running? (kiln dev prints the address to set as KILN_GATEWAY)'
      : '';
  return new FarmError('ERR_UNREACHABLE', `cannot reach ${where} (${why})${next}`, {
    cause: err ?? undefined,
  });
}

/**
 * Sends one request to `target` (a gateway path, or an absolute URL sent without the kiln
 * credential) and resolves with the answer, whatever its status. When the server answers
 * before the body is all written (an error, or "already there"), the answer wins.
 */
export async function send(api: Api, target: string, r: HttpRequest = {}): Promise<HttpAnswer> {
  const gateway = isGatewayPath(target);
  const token = gateway ? (api.token ?? (api.credential ? await api.credential() : null)) : null;
  const url = new URL(gateway ? api.base + target : target);
  const where = gateway ? `the kiln gateway at ${api.base}` : url.origin;
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(r.headers ?? {})) headers[k.toLowerCase()] = v;
  let payload = r.body;
  if (r.json !== undefined) {
    payload = Buffer.from(JSON.stringify(r.json));
    headers['content-type'] ??= 'application/json';
  }
  if (payload) headers['content-length'] = String(payload.byteLength);
  if (token) headers.authorization = `Bearer ${token}`;
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method: r.method ?? 'GET',
      headers,
      ...(r.timeoutMs !== undefined ? { timeout: r.timeoutMs } : {}),
      ...(r.signal ? { signal: r.signal } : {}),
      // The farm's CA and the client certificate go to the gateway only, never to a store URL.
      ...(gateway && api.tls && url.protocol === 'https:'
        ? { ...api.tls, agent: gatewayAgent(api.tls) }
        : {}),
      ...(!gateway && api.storeCa && url.protocol === 'https:' ? { agent: storeAgent(api.storeCa) } : {}),
    });
    let answered = false;
    let failure: unknown = null;
    req.on('response', (res) => {
      answered = true;
      resolve(answerOf(res, where));
    });
    // Only our own limit: the global agent's 5 s socket timeout also emits 'timeout' on a long poll.
    if (r.timeoutMs !== undefined)
      req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
    req.on('error', (err) => (failure ??= err));
    req.on('close', () => {
      if (answered) return;
      if (r.signal?.aborted) reject(failure ?? r.signal.reason);
      else reject(noAnswer(where, gateway, failure, r.timeoutMs));
    });
    if (!r.write) {
      req.end(payload);
      return;
    }
    r.write(req).catch((err: unknown) => {
      failure ??= err;
      if (!answered) req.destroy(); // then 'close' rejects: no answer
    });
  });
}

/**
 * {@link send}, then an answer that is not 2xx or 3xx becomes a FarmError: the gateway's code and
 * message when it answered kiln's error form, ERR_UPSTREAM otherwise.
 */
export async function call(api: Api, target: string, r: HttpRequest = {}): Promise<HttpAnswer> {
  const res = await send(api, target, r);
  if (res.status >= 200 && res.status < 400) return res;
  let body: unknown = null;
  try {
    body = await res.json();
  } catch {
    /* not JSON: an answer that is not kiln's */
  }
  const retryAfter = Number(res.headers['retry-after']);
  // A presigned URL's query is its signature: keep it out of messages.
  const shown = isGatewayPath(target)
    ? target.split('?')[0]
    : new URL(target).origin + new URL(target).pathname;
  const what = r.what ?? `${r.method ?? 'GET'} ${shown}`;
  throw FarmError.fromAnswer(res.status, body, what, Number.isFinite(retryAfter) ? retryAfter : undefined);
}

/** {@link call}, then the answer's JSON body. */
export async function callJson<T>(api: Api, target: string, r: HttpRequest = {}): Promise<T> {
  return (await call(api, target, r)).json<T>();
}
