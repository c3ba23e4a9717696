/** `kiln run [--input DIR] [--output PATH]… [--detach] [--timeout S] -- CMD…` */
import { resolve } from 'node:path';
import { uploadTree } from '../tree.ts';
import { randomUUID } from 'node:crypto';
import type { CreatedJob, JobSpecInput, JobView } from '../../protocol/job.ts';
import { createJob, cancelJob, downloadOutputs, getJob, type Api } from '../api.ts';
import { say, type Command, type Io } from '../command.ts';
import { UserError } from '../errors.ts';
import { followToTerminal } from '../follow.ts';
import { placeOutputs } from '../outputs.ts';
import { apiFor, defaultPlatform } from '../session.ts';
import { exitCodeOf } from './exit-code.ts';

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

export const run: Command<RunArgs> = {
  command: 'run [cmd..]',
  describe: 'run a command on the farm, streaming its output; exits with its exit code',
  positional: { cmd: { type: 'string', describe: 'the command and its arguments (after --)', array: true } },
  options: {
    input: {
      type: 'string',
      describe: 'directory sent as the job directory (content-addressed, only new files upload)',
      alias: 'i',
    },
    output: {
      type: 'array',
      describe: 'path (file or directory) under the job directory to bring back; repeatable',
      alias: 'o',
    },
    'output-dir': {
      type: 'string',
      describe: 'where outputs are written (default: the --input directory, else the current one)',
    },
    detach: { type: 'boolean', describe: 'print the job id and return at once', default: false, alias: 'd' },
    timeout: { type: 'number', describe: 'time limit of the job in seconds (default 600)' },
    platform: { type: 'string', describe: 'builder platform (linux-x86_64, linux-aarch64, freebsd-amd64)' },
    toolchain: {
      type: 'string',
      alias: 't',
      describe: 'toolchain preset (NAME@PLATFORM, or NAME for the job platform) or digest: the sandbox root',
    },
    env: { type: 'array', describe: 'NAME=VALUE set in the job environment; repeatable', alias: 'e' },
    cwd: { type: 'string', describe: 'working directory relative to the job directory' },
    json: {
      type: 'boolean',
      describe: 'print the final job as JSON on stdout instead of streaming output',
      default: false,
    },
  },
  async handler(a, io) {
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
    if (job.outputs) {
      await placeOutputs(await downloadOutputs(jobApi, id), resolve(io.cwd, a.outputDir ?? a.input ?? '.'));
    }
    for (const m of job.missingOutputs) io.stderr.write(`kiln: declared output ${m} was not produced\n`);
    for (const r of job.rejectedOutputs ?? [])
      io.stderr.write(`kiln: declared output ${r.path} was not brought back: it ${r.reason}\n`);
    if (job.error)
      io.stderr.write(`kiln: job ${id} ${job.state}: ${job.error.message} (${job.error.code})\n`);
    else if (job.state === 'timed_out') io.stderr.write(`kiln: job ${id} hit its time limit\n`);
    else if (job.state === 'killed') io.stderr.write(`kiln: job ${id} was stopped\n`);
    if (a.json) say(io.stdout, JSON.stringify({ ...job, upload }));
    return exitCodeOf(job);
  },
};
