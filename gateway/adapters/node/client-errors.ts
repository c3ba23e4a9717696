/**
 * Requests Node's HTTP parser refuses before the app sees them (headers over its size limit, a
 * malformed request line) are answered in the gateway's error shape, `{error:{code,message}}`,
 * instead of Node's bare status line.
 */
import type { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import type { ErrorCode } from '../../../protocol/errors.ts';

export function answerClientErrors(server: EventEmitter): void {
  server.on('clientError', (err: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket: Duplex) => {
    if (err.code === 'ECONNRESET' || !socket.writable) return void socket.destroy();
    const [status, code, message] =
      err.code === 'HPE_HEADER_OVERFLOW' && longRequestLine(err.rawPacket)
        ? URL_TOO_LONG
        : answerOf(err.code);
    const body = JSON.stringify({ error: { code, message } });
    socket.end(
      `HTTP/1.1 ${status}\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
        `Connection: close\r\n\r\n${body}`,
    );
  });
}

const URL_TOO_LONG: [string, ErrorCode, string] = [
  '414 URI Too Long',
  'ERR_URL_TOO_LONG',
  'request URL over the gateway limit (limits.maxUrlBytes): send long lists in a JSON body',
];
/** Longest request line taken as a header overflow rather than a long URL. */
const REQUEST_LINE_MAX = 8192;

/**
 * True when the packet the parser choked on starts a request whose line (method, URL, version)
 * is over {@link REQUEST_LINE_MAX} or does not even end in it: Node counts the URL in its header
 * limit, but a client sending a long URL should hear 414, not 431.
 */
function longRequestLine(packet: Buffer | undefined): boolean {
  if (!packet || !/^[A-Z]+ /.test(packet.subarray(0, 16).toString('latin1'))) return false;
  const eol = packet.indexOf('\r\n');
  return eol < 0 || eol > REQUEST_LINE_MAX;
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
