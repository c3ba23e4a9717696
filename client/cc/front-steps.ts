/**
 * Commands the native front runs for the daemon (client/cc/native/kiln-cc.c): the daemon is a
 * 100+ MB Node process whose every fork costs milliseconds and whose pipes cost JavaScript, so
 * a front that says it can (`KILN_CC_FRONT=steps` in its request's environment) is asked to run
 * the preprocessor (stdout to a file the daemon then reads, stderr sent back) and the local
 * compile (stdout and stderr its own: the terminal stays the compiler's) itself.
 *
 * Frames (after the request, both directions little-endian: u8 kind, u32 length, payload):
 *   daemon → front 'r': NUL-terminated strings: stdin ("null" | "inherit"), stdout ("-": the
 *                       front's own, else a file path, created 0600 and truncated), stderr
 *                       ("capture" | "inherit"), cwd, argc, argv…, envc, env…
 *   front → daemon 's': "exit N" | "signal N" | "errno N" (it could not be started: errno N),
 *                       a NUL, then the captured stderr bytes
 * One step at a time per connection: a second waits for the first's 's' frame.
 */
import { constants } from 'node:os';
import { join } from 'node:path';
import type { Socket } from 'node:net';

let scratch = 0;

/** The environment entry by which a front says it runs steps (taken out before anything sees it). */
export const STEPS_ENV = 'KILN_CC_FRONT';

/** A command for the front to run. */
export interface FrontStep {
  argv: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** `null`: /dev/null; `inherit`: the front's stdin. */
  stdin: 'null' | 'inherit';
  /** A file path, or `inherit`: the front's own stdout. */
  stdout: string | 'inherit';
  /** `capture`: sent back in the status; `inherit`: the front's own stderr. */
  stderr: 'capture' | 'inherit';
}

/** How a step ended, as the front saw it. */
export interface StepStatus {
  kind: 'exit' | 'signal' | 'errno';
  value: number;
  /** What it printed on stderr (empty unless captured). */
  stderr: Buffer;
}

/** Runs commands through the front at the other end of a daemon connection. */
export interface Front {
  run(step: FrontStep): Promise<StepStatus>;
  /** A path no other step uses, in a directory private to this user, for a step's stdout. */
  scratchFile(suffix: string): string;
}

/** A frame: u8 kind, u32 LE length, payload. */
export function frame(kind: string, data: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.write(kind, 0, 'latin1');
  head.writeUInt32LE(data.length, 1);
  return Buffer.concat([head, data]);
}

function stepPayload(s: FrontStep): Buffer {
  const env = Object.entries(s.env).flatMap(([k, v]) => (v === undefined ? [] : [`${k}=${v}`]));
  const strings = [
    s.stdin,
    s.stdout === 'inherit' ? '-' : s.stdout,
    s.stderr,
    s.cwd,
    String(s.argv.length),
    ...s.argv,
    String(env.length),
    ...env,
  ];
  return Buffer.from(strings.map((x) => `${x}\0`).join(''));
}

/** Parses an 's' frame's payload. */
export function parseStatus(p: Buffer): StepStatus {
  const nul = p.indexOf(0);
  const [kind, value] = p
    .subarray(0, nul < 0 ? p.length : nul)
    .toString('latin1')
    .split(' ');
  if ((kind !== 'exit' && kind !== 'signal' && kind !== 'errno') || !/^\d+$/.test(value ?? ''))
    throw new Error('bad step status from the kiln-cc front');
  return { kind, value: Number(value), stderr: nul < 0 ? Buffer.alloc(0) : p.subarray(nul + 1) };
}

/** The errno's code name, as Node's spawn errors say it (`ENOENT`). */
export function errnoName(n: number): string {
  return Object.entries(constants.errno).find(([, v]) => v === n)?.[0] ?? `errno ${n}`;
}

/**
 * The front of `sock`: steps go out as 'r' frames; `answer` is fed each 's' payload. A
 * connection that closes fails the step under way.
 */
export function socketFront(sock: Socket, dir: string): { front: Front; answer(p: Buffer): void } {
  let waiting: { resolve(s: StepStatus): void; reject(e: Error): void } | null = null;
  let queue: Promise<unknown> = Promise.resolve();
  let closed = false;
  sock.on('close', () => {
    closed = true;
    waiting?.reject(new Error('the kiln-cc front went away'));
    waiting = null;
  });
  const once = (step: FrontStep): Promise<StepStatus> =>
    new Promise((resolve, reject) => {
      if (closed) return reject(new Error('the kiln-cc front went away'));
      waiting = { resolve, reject };
      sock.write(frame('r', stepPayload(step)));
    });
  return {
    front: {
      run(step) {
        const p = queue.then(() => once(step));
        queue = p.catch(() => undefined);
        return p;
      },
      scratchFile: (suffix) => join(dir, `step-${process.pid}-${++scratch}${suffix}`),
    },
    answer(p) {
      const w = waiting;
      waiting = null;
      if (!w) throw new Error('a step status with no step under way');
      try {
        w.resolve(parseStatus(p));
      } catch (err) {
        w.reject(err as Error);
      }
    },
  };
}
