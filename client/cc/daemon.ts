/**
 * The kiln cc daemon: serves the native `kiln-cc` front (client/cc/native/kiln-cc.c) over a Unix
 * socket, so a compile costs one connect instead of a Node start. Each request carries the
 * compile's argv, cwd and environment; the answer streams stdout/stderr frames and the exit code.
 * A front whose environment says `KILN_CC_FRONT=steps` also runs the compile's commands (the
 * preprocessor, a local compile) when asked: 'r' frames out, 's' frames back (client/cc/front-steps.ts).
 * It exits after `idleMs` without requests.
 *
 * Wire format (little-endian), as kiln-cc.c documents it:
 *   request : u32 length, then NUL-terminated strings: "kiln-cc/1", cwd, argc, argv…, envc, env…
 *   daemon → front: frames of u8 kind, u32 length, payload: 'o' stdout bytes, 'e' stderr bytes,
 *             'r' a step to run (front-steps.ts), 'x' the exit status as decimal text (the last)
 *   front → daemon: 's' frames, one per 'r': how the step ended and its captured stderr
 */
import { chmodSync, existsSync, mkdirSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { Writable } from 'node:stream';
import { kilnCc } from './compile.ts';
import { frame, socketFront, STEPS_ENV } from './front-steps.ts';

/** The socket path, as kiln-cc.c computes it. */
export function daemonSocketPath(env: NodeJS.ProcessEnv): string {
  if (env.KILN_CC_SOCKET) return env.KILN_CC_SOCKET;
  if (env.XDG_RUNTIME_DIR) return `${env.XDG_RUNTIME_DIR}/kiln-cc.sock`;
  return `/tmp/kiln-${process.getuid?.() ?? 0}/cc.sock`;
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

function serve(sock: Socket, scratchDir: string): void {
  let buf: Buffer = Buffer.alloc(0);
  let started = false;
  const steps = socketFront(sock, scratchDir);
  sock.on('error', () => undefined);
  sock.on('data', (chunk: Buffer) => {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    if (started) {
      // The front's 's' frames, answering steps.
      while (buf.length >= 5 && buf.length >= 5 + buf.readUInt32LE(1)) {
        const n = buf.readUInt32LE(1);
        try {
          if (buf[0] !== 0x73) throw new Error('not a step status'); // 's'
          steps.answer(buf.subarray(5, 5 + n));
        } catch {
          return void sock.destroy(); // a front out of step: the compile under way fails with it
        }
        buf = buf.subarray(5 + n);
      }
      return;
    }
    if (buf.length < 4) return;
    const len = buf.readUInt32LE(0);
    if (buf.length < 4 + len) return;
    started = true;
    const body = buf.subarray(4, 4 + len);
    buf = buf.subarray(4 + len);
    // Each frame goes to the socket at once, so frames and steps reach the front in order.
    const out = (kind: 'o' | 'e'): Writable =>
      new Writable({
        write(c: Buffer, _e, cb) {
          sock.write(frame(kind, c));
          cb();
        },
      });
    void (async () => {
      let code: number;
      try {
        const req = parseRequest(body);
        const front = req.env[STEPS_ENV] === 'steps' ? steps.front : undefined;
        delete req.env[STEPS_ENV];
        code = await kilnCc(req.argv, {
          cwd: req.cwd,
          env: req.env,
          stdout: out('o'),
          stderr: out('e'),
          ...(front ? { front } : {}),
        });
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
    serve(sock, dirname(path));
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
