/** `kiln run [--input DIR] [--output PATH]… [--detach] [--timeout S] -- CMD…` */
import { resolve } from 'node:path';
import { uploadTree } from '../tree.ts';
import { randomUUID } from 'node:crypto';
import type { CreatedJob, JobSpecInput, JobView } from '../../protocol/job.ts';
import { createJob, cancelJob, downloadOutputs, getJob } from '../api.ts';
import type { Api } from '../http.ts';
import { say, type Io } from '../command.ts';
import { UserError } from '../errors.ts';
import { followToTerminal } from '../follow.ts';
import { placeOutputs } from '../outputs.ts';
import { apiFor, defaultPlatform } from '../session.ts';
import { exitCodeOf } from './exit-code.ts';
import { loadClientConfig } from '../config.ts';
import { verifyJobResult, verifyOutputsTar } from '../verify-result.ts';

interface RunArgs {
  cmd?: string[];
  /** Everything after `--`, verbatim. */
  '--'?: string[];
  input?: string;
  output?: string[];
  outputDir?: string;
  detach: boolean;
  timeout?: number;
  platform?: string;
  toolchain?: string;
  env?: string[];
  cwd?: string;
  verifySigner?: boolean;
  json: boolean;
}

function parseEnv(pairs: string[] = []): Record<string, string> {
  const env: Record<string, string> = {};
  for (const p of pairs) {
    const eq = p.indexOf('=');
    if (eq <= 0) throw new UserError(`--env takes NAME=VALUE, not ${JSON.stringify(p)}`);
    env[p.slice(0, eq)] = p.slice(eq + 1);
  }
  return env;
}

/** Follows a created job to its end; the exit code 130 when Ctrl-C stopped it. */
async function follow(api: Api, created: CreatedJob, a: RunArgs, io: Io): Promise<JobView | number> {
  const id = created.job.id;
  const jobApi = { ...api, token: created.token };
  const onAbort = (): void => void cancelJob(jobApi, id).catch(() => undefined);
  io.signal.addEventListener('abort', onAbort, { once: true });
  try {
    // stdout redirected (a file, a pipe): only the final attempt's output may reach it.
    const spoolStdout = !(io.stdout as { isTTY?: boolean }).isTTY;
    if (!a.json) await followToTerminal(jobApi, id, io, { spoolStdout });
    let job = await getJob(jobApi, id, 60);
    while (job.state === 'queued' || job.state === 'running') job = await getJob(jobApi, id, 60);
    return job;
  } catch (err) {
    if (io.signal.aborted) {
      io.stderr.write(`kiln: stopping job ${id}\n`);
      return 130;
    }
    throw err;
  } finally {
    io.signal.removeEventListener('abort', onAbort);
  }
}

export async function handler(a: RunArgs, io: Io): Promise<number> {
  const argv = [...(a.cmd ?? []), ...(a['--'] ?? [])].map(String);
  if (argv.length === 0)
    throw new UserError('nothing to run: give the command after --, e.g. `kiln run -- make -j4`');
  const api = apiFor(io);
  const spec: JobSpecInput = {
    argv,
    env: parseEnv(a.env?.map(String)),
    outputs: (a.output ?? []).map(String),
    limits: a.timeout !== undefined ? { timeoutSec: a.timeout } : {},
  };
  const platform = a.platform ?? defaultPlatform(io);
  if (platform) spec.platform = platform as JobSpecInput['platform'];
  if (a.toolchain) spec.toolchain = a.toolchain;
  if (a.cwd) spec.cwd = a.cwd;
  const inputDir = a.input ? resolve(io.cwd, a.input) : null;
  let upload = { bytes: 0, blobs: 0 };
  const send = async (): Promise<void> => {
    if (!inputDir) return;
    const up = await uploadTree(api, inputDir);
    for (const x of up.skipped)
      io.stderr.write(`kiln: left out ${x} (a link out of the tree, or not a regular file)\n`);
    spec.tree = up.tree;
    upload = { bytes: upload.bytes + up.uploadedBytes, blobs: upload.blobs + up.uploadedBlobs };
  };
  await send();
  // One key per job this command makes: a POST retried after a cut connection never makes two.
  let created = await createJob(api, spec, 0, randomUUID());
  if (a.detach) {
    if (a.json) say(io.stdout, JSON.stringify({ ...created.job, token: created.token, upload }));
    else say(io.stdout, created.job.id);
    return 0;
  }
  let job = await follow(api, created, a, io);
  if (typeof job === 'number') return job;
  if (inputDir && job.state === 'failed' && job.error?.code === 'ERR_BLOBS_MISSING') {
    // A builder found an input damaged in the store and removed it: upload it again, run again.
    io.stderr.write(`kiln: ${job.error.message}; uploading again and running once more\n`);
    await send();
    created = await createJob(api, spec, 0, randomUUID());
    job = await follow(api, created, a, io);
    if (typeof job === 'number') return job;
  }
  const id = job.id;
  const jobApi = { ...api, token: created.token };
  // Nothing of the result is used before its builder's signature is checked.
  const verifySigner = a.verifySigner ?? loadClientConfig(io.cwd, io.env).verifySigner;
  await verifyJobResult(job, { job: created.job.id, action: created.action ?? null }, verifySigner);
  if (job.outputs) {
    const tar = await downloadOutputs(jobApi, id);
    await verifyOutputsTar(job, tar, job.outputs);
    await placeOutputs(tar, resolve(io.cwd, a.outputDir ?? a.input ?? '.'));
  }
  for (const m of job.missingOutputs) io.stderr.write(`kiln: declared output ${m} was not produced\n`);
  for (const r of job.rejectedOutputs ?? [])
    io.stderr.write(`kiln: declared output ${r.path} was not brought back: it ${r.reason}\n`);
  if (job.error) io.stderr.write(`kiln: job ${id} ${job.state}: ${job.error.message} (${job.error.code})\n`);
  else if (job.state === 'timed_out') io.stderr.write(`kiln: job ${id} hit its time limit\n`);
  else if (job.state === 'killed') io.stderr.write(`kiln: job ${id} was stopped\n`);
  if (a.json) say(io.stdout, JSON.stringify({ ...job, upload }));
  return exitCodeOf(job);
}
