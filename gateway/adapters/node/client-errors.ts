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
    const tooLarge = err.code === 'HPE_HEADER_OVERFLOW';
    const code: ErrorCode = tooLarge ? 'ERR_HEADERS_TOO_LARGE' : 'ERR_BAD_REQUEST';
    const message = tooLarge
      ? 'request headers are over the gateway limit (a credential must be at most a few KiB)'
      : 'malformed HTTP request';
    const body = JSON.stringify({ error: { code, message } });
    socket.end(
      `HTTP/1.1 ${tooLarge ? '431 Request Header Fields Too Large' : '400 Bad Request'}\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
        `Connection: close\r\n\r\n${body}`,
    );
  });
}
