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
import { FarmError } from '../errors.ts';
import { callJson, type Api } from '../http.ts';
import { analyzeCompile, describePlan, type RemotePlan } from './args.ts';
import { runLocal } from './local.ts';
import { preprocess } from './preprocess.ts';
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

/** How `kiln stats` counts a farm failure that made a compile fall back to local. */
export function fallbackReason(err: FarmError): FallbackReason {
  if (err.code === 'ERR_NO_CAPACITY') return 'no capacity';
  if (err.code === 'ERR_UNREACHABLE') return 'unreachable';
  if (err.code === 'ERR_TIMEOUT') return 'timeout';
  if (err.httpStatus >= 500) return '5xx';
  return 'other';
}

async function remote(plan: RemotePlan, argv: string[], s: CcSettings, api: Api, io: CcIo): Promise<number> {
  const pre = await preprocess(plan.preprocessArgv, io.cwd, io.env, io.stderr);
  if (pre.code !== 0) {
    recordEvent('error', undefined, { env: io.env });
    return pre.code; // the preprocessor's diagnostics are the compiler's: the user's error
  }
  if (pre.text.byteLength > INLINE_MAX)
    throw new FarmError('ERR_TOO_LARGE', 'preprocessed source too large for the fast path');
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
  const created = await callJson<CreatedJob>(api, `/api/v1/jobs?wait=${Math.min(60, s.timeoutSec)}`, {
    method: 'POST',
    json: spec,
    timeoutMs: s.timeoutSec * 1000,
  });
  const jobApi: Api = { ...api, token: created.token };
  let job: JobView = created.job;
  while (job.state === 'queued' || job.state === 'running') {
    if (Date.now() > deadline)
      throw new FarmError('ERR_TIMEOUT', `the farm did not finish within ${s.timeoutSec} s`);
    job = await callJson<JobView>(jobApi, `/api/v1/jobs/${job.id}?wait=30`, { timeoutMs: 40_000 });
  }
  if (job.error) throw FarmError.ofJob(job.error);
  if (!job.result || job.exitCode === null)
    throw new FarmError('ERR_UPSTREAM', `the job ended ${job.state} without a result`);
  io.stdout.write(Buffer.from(job.result.stdout, 'base64'));
  io.stderr.write(Buffer.from(job.result.stderr, 'base64'));
  if (job.exitCode !== 0) {
    recordEvent('error', undefined, { env: io.env });
    return job.exitCode; // a compile error: the same diagnostics and exit code as a local gcc
  }
  const obj = job.result.files.find((f) => f.path === plan.remoteOutput);
  if (!obj) throw new FarmError('ERR_UPSTREAM', 'the farm returned no object file');
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
    return await remote(plan, argv, s, { base: s.gateway, token: s.token }, io);
  } catch (err) {
    if (!(err instanceof FarmError)) throw err;
    const why = fallbackReason(err);
    recordEvent('fallback', why, { env: io.env });
    if (s.verbose) io.stderr.write(`kiln cc: farm failed (${why}: ${err.message}); compiling locally\n`);
    return local();
  }
}
