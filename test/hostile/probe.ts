/**
 * Attacks from inside a job: a Python script (the host's python3, read-only in the sandbox) whose
 * `attempt(what, fn)` runs one try and prints what the kernel answered as a JSON line — `ok` when
 * the call went through, the exception otherwise. The test side turns the lines into tries and
 * fails when a try printed nothing (a probe that crashed is never counted as refused).
 */
import { b64, type HostileFarm, type Ran } from './farm.ts';
import { tried, type Try } from './tally.ts';
import type { Client } from '../helpers/http.ts';

const PRELUDE = `
import ctypes, errno, json, os, socket, sys
libc = ctypes.CDLL(None, use_errno=True)
def check(ret):
    if ret == -1:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return ret
def attempt(what, fn):
    try:
        got = fn()
        print(json.dumps({"what": what, "ok": True, "detail": repr(got)[:200]}), flush=True)
    except BaseException as e:
        print(json.dumps({"what": what, "ok": False, "detail": (type(e).__name__ + ": " + str(e))[:200]}), flush=True)
`;

/** A job spec that runs `body` (Python, after the prelude) in the sandbox. */
export function probeSpec(body: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    argv: ['/usr/bin/python3', 'probe.py'],
    inline: [{ path: 'probe.py', data: b64(PRELUDE + body) }],
    ...extra,
  };
}

/** The tries a probe job printed; throws when one of `expected` is absent. */
export function triesOf(ran: Ran, expected: readonly string[]): Try[] {
  const seen = new Map<string, Try>();
  for (const line of ran.stdout.split('\n')) {
    if (!line.startsWith('{')) continue;
    const r = JSON.parse(line) as { what: string; ok: boolean; detail: string };
    seen.set(r.what, tried(r.what, !r.ok, r.detail));
  }
  const absent = expected.filter((w) => !seen.has(w));
  if (ran.status !== 201 || absent.length > 0)
    throw new Error(
      `the probe did not report ${absent.join(', ')}: creation ${ran.status}, job ${JSON.stringify(ran.job)}, ` +
        `stdout ${ran.stdout.slice(0, 500)} stderr ${ran.stderr.slice(0, 500)}`,
    );
  return expected.map((w) => seen.get(w)!);
}

/** Runs `body` as `who` and returns its tries. */
export async function probe(
  h: HostileFarm,
  who: Client,
  expected: readonly string[],
  body: string,
  extra: Record<string, unknown> = {},
): Promise<Try[]> {
  return triesOf(await h.run(who, probeSpec(body, extra)), expected);
}
