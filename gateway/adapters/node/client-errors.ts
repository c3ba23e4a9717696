/**
 * Requests Node's HTTP parser refuses before the app sees them (headers over its size limit, a
 * malformed request line) are answered in the gateway's error shape, `{error:{code,message}}`,
 * instead of Node's bare status line.
 */
import type { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import type { ErrorCode } from '../../../protocol/errors.ts';

export function answerClientErrors(server: EventEmitter): void {
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (err.code === 'ECONNRESET' || !socket.writable) return void socket.destroy();
    const [status, code, message] = answerOf(err.code);
    const body = JSON.stringify({ error: { code, message } });
    socket.end(
      `HTTP/1.1 ${status}\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
        `Connection: close\r\n\r\n${body}`,
    );
  });
}

/** Status line, code and message for a parser error code. */
function answerOf(errCode: string | undefined): [string, ErrorCode, string] {
  if (errCode === 'HPE_HEADER_OVERFLOW')
    return [
      '431 Request Header Fields Too Large',
      'ERR_HEADERS_TOO_LARGE',
      'request headers are over the gateway limit (a credential must be at most a few KiB)',
    ];
  if (errCode === 'ERR_HTTP_REQUEST_TIMEOUT')
    return [
      '408 Request Timeout',
      'ERR_REQUEST_TIMEOUT',
      'the request did not arrive whole within the gateway request timeout (limits.requestTimeoutMs)',
    ];
  return ['400 Bad Request', 'ERR_BAD_REQUEST', 'malformed HTTP request'];
}
