/**
 * s3rver as a process of its own, so a fault scenario can SIGKILL the store and start it again on
 * the same port and data directory. Args: PORT DIR BUCKET. With `KILN_STORE_FAULT` set
 * (`{"method":"PUT"|"GET","path":"<regex>","afterBytes":N}`), the process kills itself with
 * SIGKILL as soon as N bytes of one matching request have passed (received for a PUT, sent for a
 * GET; smaller transfers pass untouched): the store dies mid-upload or mid-download, at a byte
 * the test chose. It says so on
 * stderr first. Says `ready <port>` on stderr when it listens.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';

interface Fault {
  method: 'PUT' | 'GET';
  path: string;
  afterBytes: number;
}
interface S3rverApp {
  configureBuckets(): Promise<void>;
  callback(): (req: IncomingMessage, res: ServerResponse) => void;
}
type S3rverCtor = new (opts: {
  silent: boolean;
  directory: string;
  resetOnClose: boolean;
  configureBuckets: { name: string }[];
}) => S3rverApp;

const [port, directory, bucket] = process.argv.slice(2) as [string, string, string];
const fault = process.env.KILN_STORE_FAULT ? (JSON.parse(process.env.KILN_STORE_FAULT) as Fault) : null;
const S3rver = createRequire(import.meta.url)('s3rver') as S3rverCtor;
const app = new S3rver({
  silent: true,
  directory,
  resetOnClose: false,
  configureBuckets: [{ name: bucket }],
});
await app.configureBuckets();
const handle = app.callback();

function die(what: string): never {
  process.stderr.write(`store fault: killed after ${what}\n`);
  process.kill(process.pid, 'SIGKILL');
  throw new Error('unreachable');
}

const server = createServer((req, res) => {
  const path = new URL(req.url ?? '/', 'http://x').pathname;
  process.stderr.write(`${req.method} ${path}\n`);
  if (fault && req.method === fault.method && new RegExp(fault.path).test(path)) {
    let n = 0;
    const what = `${fault.afterBytes} bytes of ${req.method} ${path}`;
    if (fault.method === 'PUT') {
      // The socket's bytes of this request (a kept-alive socket carries the next one after it).
      const onData = (chunk: Buffer): void => {
        n += chunk.length;
        if (n >= fault.afterBytes) die(what);
      };
      req.socket.on('data', onData);
      res.once('finish', () => req.socket.off('data', onData));
    } else {
      const write = res.write.bind(res) as (chunk: unknown, ...rest: unknown[]) => boolean;
      res.write = ((chunk: unknown, ...rest: unknown[]) => {
        n += typeof chunk === 'string' ? Buffer.byteLength(chunk) : (chunk as Uint8Array).byteLength;
        if (n >= fault.afterBytes) die(what);
        return write(chunk, ...rest);
      }) as typeof res.write;
    }
  }
  handle(req, res);
});
server.listen(Number(port), '127.0.0.1', () => process.stderr.write(`ready ${port}\n`));
