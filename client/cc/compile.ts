/**
 * `kiln cc <compiler> <args…>`: a single-source `-c` compile is preprocessed here (writing the
 * depfile exactly where the compiler would), compiled on the farm in ONE round trip (the fast
 * path: inline input, wait, inline result; the action cache answers repeats), and its object
 * written where the compiler would. Anything else runs locally. Any farm failure compiles
 * locally and is counted; a compile error is the user's and is not retried.
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import { basename, isAbsolute, relative, sep } from 'node:path';
import type { Writable } from 'node:stream';
import type { CreatedJob, JobView } from '../../protocol/job.ts';
import { analyzeCompile, describePlan, type RemotePlan } from './args.ts';
import { runLocal } from './local.ts';
import { preprocess } from './preprocess.ts';
import { postJson } from './http.ts';
import { ccSettings, presetFor, type CcSettings } from './settings.ts';
import { recordEvent, type FallbackReason } from './stats.ts';

export interface CcIo {
  cwd: string;
  env: NodeJS.ProcessEnv;
  stdout: Writable;
  stderr: Writable;
}

/** Largest preprocessed source sent inline (bigger ones compile locally for now). @default 6 MiB */
const INLINE_MAX = 6 << 20;

/** The locale of diagnostics (gcc's quote characters follow it), as the local compiler would see it. */
function localeEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  return { LC_ALL: env.LC_ALL || env.LC_MESSAGES || env.LANG || 'C' };
}

class Fallback extends Error {
  readonly why: FallbackReason;
  constructor(why: FallbackReason, message: string) {
    super(message);
    this.why = why;
  }
}

function classify(status: number, body: unknown): Fallback {
  const code = (body as { error?: { code?: string; message?: string } } | null)?.error;
  const msg = code?.message ?? `HTTP ${status}`;
  if (status === 503 && code?.code === 'ERR_NO_CAPACITY') return new Fallback('no capacity', msg);
  if (status >= 500) return new Fallback('5xx', msg);
  return new Fallback('other', `${msg} (${code?.code ?? status})`);
}

async function remote(plan: RemotePlan, argv: string[], s: CcSettings, io: CcIo): Promise<number> {
  const pre = await preprocess(plan.preprocessArgv, io.cwd, io.env, io.stderr);
  if (pre.code !== 0) {
    recordEvent('error', undefined, { env: io.env });
    return pre.code; // the preprocessor's diagnostics are the compiler's: the user's error
  }
  if (pre.text.byteLength > INLINE_MAX)
    throw new Fallback('other', 'preprocessed source too large for the fast path');
  const preset = presetFor(argv[0]!, s);
  // The main source goes along at the path the line markers name, so diagnostics quote its lines
  // exactly as a local gcc does (headers are not sent: their lines are quoted only locally).
  const rel = relative(io.cwd, plan.source);
  const sourceInline =
    !rel.startsWith('..') && !isAbsolute(rel) && pre.text.byteLength < INLINE_MAX / 2
      ? [{ path: rel.split(sep).join('/'), data: (await readFile(plan.source)).toString('base64') }]
      : [];
  const compileArgv = [basename(plan.compileArgv[0]!), ...plan.compileArgv.slice(1)];
  const spec = {
    argv: compileArgv,
    inline: [{ path: plan.remoteInput, data: pre.text.toString('base64') }, ...sourceInline],
    env: localeEnv(io.env),
    outputs: [plan.remoteOutput],
    cache: true,
    inlineResult: true,
    limits: { timeoutSec: s.timeoutSec },
    ...(preset ? { toolchain: preset } : {}),
  };
  const deadline = Date.now() + s.timeoutSec * 1000;
  let res;
  try {
    res = await postJson(
      `${s.gateway}/api/v1/jobs?wait=${Math.min(60, s.timeoutSec)}`,
      s.token,
      spec,
      s.timeoutSec * 1000,
    );
  } catch (err) {
    const code = (err as { code?: string }).code;
    throw new Fallback(code === 'ETIMEDOUT' ? 'timeout' : 'unreachable', (err as Error).message);
  }
  if (res.status !== 200 && res.status !== 201) throw classify(res.status, res.body);
  const created = res.body as CreatedJob;
  let job: JobView = created.job;
  while (job.state === 'queued' || job.state === 'running') {
    if (Date.now() > deadline)
      throw new Fallback('timeout', `the farm did not finish within ${s.timeoutSec} s`);
    const r = await postJson(
      `${s.gateway}/api/v1/jobs/${job.id}?wait=30`,
      created.token,
      undefined,
      40_000,
      'GET',
    ).catch((err: Error) => {
      throw new Fallback('unreachable', err.message);
    });
    if (r.status !== 200) throw classify(r.status, r.body);
    job = r.body as JobView;
  }
  if (job.error || !job.result || job.exitCode === null) {
    throw new Fallback(
      'other',
      job.error ? `${job.error.message} (${job.error.code})` : `job ended ${job.state}`,
    );
  }
  io.stdout.write(Buffer.from(job.result.stdout, 'base64'));
  io.stderr.write(Buffer.from(job.result.stderr, 'base64'));
  if (job.exitCode !== 0) {
    recordEvent('error', undefined, { env: io.env });
    return job.exitCode; // a compile error: the same diagnostics and exit code as a local gcc
  }
  const obj = job.result.files.find((f) => f.path === plan.remoteOutput);
  if (!obj) throw new Fallback('other', 'the farm returned no object file');
  const tmp = `${plan.output}.kiln-${process.pid}.tmp`;
  await writeFile(tmp, Buffer.from(obj.data, 'base64'));
  await rename(tmp, plan.output);
  recordEvent(job.state === 'cached' ? 'hit' : 'miss', undefined, { env: io.env });
  return 0;
}

/** Runs one compiler invocation; returns its exit code. */
export async function kilnCc(argv: string[], io: CcIo): Promise<number> {
  const s = ccSettings(io.cwd, io.env);
  const plan = analyzeCompile(argv, { cwd: io.cwd });
  if (s.verbose) io.stderr.write(`${describePlan(plan)}\n`);
  const local = (): Promise<number> =>
    runLocal(argv, { cwd: io.cwd, stdout: io.stdout, stderr: io.stderr, env: io.env });
  if (!plan.distributable) {
    recordEvent('local', plan.reason, { env: io.env });
    return local();
  }
  if (!s.gateway) {
    recordEvent('fallback', 'unreachable', { env: io.env });
    if (s.verbose) io.stderr.write('kiln cc: no gateway configured (KILN_GATEWAY); compiling locally\n');
    return local();
  }
  try {
    return await remote(plan, argv, s, io);
  } catch (err) {
    if (!(err instanceof Fallback)) throw err;
    recordEvent('fallback', err.why, { env: io.env });
    if (s.verbose) io.stderr.write(`kiln cc: farm failed (${err.why}: ${err.message}); compiling locally\n`);
    return local();
  }
}
