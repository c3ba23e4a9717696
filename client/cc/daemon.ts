/**
 * The kiln cc daemon: serves the native `kiln-cc` front (client/cc/native/kiln-cc.c) over a Unix
 * socket, so a compile costs one connect instead of a Node start. Each request carries the
 * compile's argv, cwd and environment; the answer streams stdout/stderr frames and the exit code.
 * It exits after `idleMs` without requests.
 */
import { chmodSync, existsSync, mkdirSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { Writable } from 'node:stream';
import { kilnCc } from './compile.ts';

/** The socket path, as kiln-cc.c computes it. */
export function daemonSocketPath(env: NodeJS.ProcessEnv): string {
  if (env.KILN_CC_SOCKET) return env.KILN_CC_SOCKET;
  if (env.XDG_RUNTIME_DIR) return `${env.XDG_RUNTIME_DIR}/kiln-cc.sock`;
  return `/tmp/kiln-${process.getuid?.() ?? 0}/cc.sock`;
}

function frame(kind: 'o' | 'e' | 'x', data: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.write(kind, 0, 'latin1');
  head.writeUInt32LE(data.length, 1);
  return Buffer.concat([head, data]);
}

/** Parses a request: "kiln-cc/1", cwd, argc, argv…, envc, env… (NUL-terminated strings). */
export function parseRequest(body: Buffer): { cwd: string; argv: string[]; env: NodeJS.ProcessEnv } {
  const parts = body.toString('utf8').split('\0');
  let i = 0;
  const next = (): string => {
    const v = parts[i++];
    if (v === undefined) throw new Error('truncated request');
    return v;
  };
  if (next() !== 'kiln-cc/1') throw new Error('unknown protocol version');
  const cwd = next();
  const argv = Array.from({ length: Number(next()) }, next);
  const env: NodeJS.ProcessEnv = {};
  const envc = Number(next());
  for (let k = 0; k < envc; k++) {
    const kv = next();
    const eq = kv.indexOf('=');
    if (eq > 0) env[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return { cwd, argv, env };
}

function serve(sock: Socket): void {
  let buf = Buffer.alloc(0);
  let started = false;
  sock.on('error', () => undefined);
  sock.on('data', (chunk: Buffer) => {
    buf = Buffer.concat([buf, chunk]);
    if (started || buf.length < 4) return;
    const len = buf.readUInt32LE(0);
    if (buf.length < 4 + len) return;
    started = true;
    const out = (kind: 'o' | 'e'): Writable =>
      new Writable({
        write(c: Buffer, _e, cb) {
          sock.write(frame(kind, c), () => cb());
        },
      });
    void (async () => {
      let code: number;
      try {
        const req = parseRequest(buf.subarray(4, 4 + len));
        code = await kilnCc(req.argv, { cwd: req.cwd, env: req.env, stdout: out('o'), stderr: out('e') });
      } catch (err) {
        sock.write(frame('e', Buffer.from(`kiln cc daemon: ${(err as Error).stack ?? String(err)}\n`)));
        code = 70;
      }
      sock.end(frame('x', Buffer.from(String(code))));
    })();
  });
}

/** Listens until idle for `idleMs`; exits quietly when another daemon already serves the socket. */
export async function runDaemon(env: NodeJS.ProcessEnv, idleMs = 10 * 60_000): Promise<void> {
  const path = daemonSocketPath(env);
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  if (existsSync(path)) {
    const alive = await new Promise<boolean>((resolve) => {
      const c = createConnection(path, () => {
        c.end();
        resolve(true);
      });
      c.on('error', () => resolve(false));
    });
    if (alive) return;
    unlinkSync(path);
  }
  let timer: NodeJS.Timeout | undefined;
  let open = 0;
  const server = createServer((sock) => {
    clearTimeout(timer);
    open++;
    serve(sock);
    sock.on('close', () => --open === 0 && arm());
  });
  /** Idle means no connection at all: a long compile keeps the daemon (and its socket) up. */
  function arm(): void {
    clearTimeout(timer);
    timer = setTimeout(() => server.close(), idleMs);
    timer.unref();
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });
  chmodSync(path, 0o600);
  arm();
  process.stderr.write(`${new Date().toISOString()} kiln cc daemon: listening on ${path}\n`);
  await new Promise<void>((resolve) => server.on('close', resolve));
}
