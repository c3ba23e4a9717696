/**
 * `kiln toolchain push FILE --name NAME --platform PLATFORM --compiler PATH-IN-ARCHIVE
 * [--target TRIPLE]… [--json]`: any archive, packaged here or built elsewhere (a Linux clang
 * with a macOS SDK or Windows headers and libraries added: docs/toolchains.md).
 */
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Writable } from 'node:stream';
import { PLATFORMS } from '../../protocol/platforms.ts';
import { compilerPathSchema, presetId, presetNameSchema, targetSchema } from '../../protocol/toolchain.ts';
import { say, type Io } from '../command.ts';
import { UserError } from '../errors.ts';
import { apiFor } from '../session.ts';
import {
  hashFile,
  headToolchain,
  putPreset,
  requestUpload,
  uploadFile,
  type Progress,
} from '../toolchain-api.ts';

interface PushArgs {
  file: string;
  name?: string;
  platform?: string;
  compiler?: string;
  target?: (string | number)[];
  json: boolean;
}

/** Archives at least this big show upload progress on stderr. */
const PROGRESS_MIN_BYTES = 16 * 1024 * 1024;

export async function handler(a: PushArgs, io: Io): Promise<number> {
  const name = required(a.name, '--name');
  const platform = required(a.platform, '--platform');
  const compiler = required(a.compiler, '--compiler');
  if (!presetNameSchema.safeParse(name).success)
    throw new UserError(
      `--name ${JSON.stringify(name)}: use lower-case letters, digits and . _ + -, such as gcc-12`,
    );
  if (!(PLATFORMS as readonly string[]).includes(platform))
    throw new UserError(`--platform must be one of ${PLATFORMS.join(', ')}`);
  if (!compilerPathSchema.safeParse(compiler).success)
    throw new UserError(
      `--compiler ${JSON.stringify(compiler)}: give its absolute path inside the archive, such as /usr/bin/gcc`,
    );
  const targets = (a.target ?? []).map(String);
  for (const t of targets)
    if (!targetSchema.safeParse(t).success)
      throw new UserError(
        `--target ${JSON.stringify(t)}: give a target triple such as x86_64-pc-windows-msvc or arm64-apple-macos11`,
      );
  const file = resolve(io.cwd, a.file);
  const st = await stat(file).catch(() => null);
  if (!st?.isFile()) throw new UserError(`${a.file} is not a file`);

  const api = apiFor(io);
  const { digest, size } = await hashFile(file);
  let uploaded = 0;
  if ((await headToolchain(api, digest)) === null) {
    const answer = await requestUpload(api, digest, size);
    if (!answer.exists) {
      const progress = size >= PROGRESS_MIN_BYTES ? progressPrinter(io.stderr) : undefined;
      uploaded = await uploadFile(api, answer.upload, file, size, progress);
    }
  }
  const preset = await putPreset(api, `${name}@${platform}`, {
    digest,
    compiler,
    ...(targets.length > 0 ? { targets } : {}),
  });
  if (a.json) {
    say(io.stdout, JSON.stringify({ preset, digest, size, uploaded }));
  } else {
    const sent = uploaded === 0 ? 'already on the farm, 0 bytes uploaded' : `${uploaded} bytes uploaded`;
    say(io.stdout, `${presetId(preset)} → ${digest} (${sent})`);
  }
  return 0;
}

function required(value: string | undefined, flag: string): string {
  if (value === undefined || value === '')
    throw new UserError(`${flag} is required (kiln toolchain push --help)`);
  return String(value);
}

/** Prints "uploaded N%" on stderr every 10% (rewriting one line on a terminal). */
function progressPrinter(out: Writable): Progress {
  const tty = (out as Writable & { isTTY?: boolean }).isTTY === true;
  let shown = -1;
  return (done, total) => {
    const pct = total === 0 ? 100 : Math.floor((done * 100) / total);
    const step = Math.floor(pct / 10) * 10;
    if (step <= shown) return;
    shown = step;
    const text = `kiln: uploaded ${step}% (${mib(done)} of ${mib(total)} MiB)`;
    out.write(tty ? `\r${text}${step === 100 ? '\n' : ''}` : `${text}\n`);
  };
}

function mib(n: number): string {
  return (n / (1024 * 1024)).toFixed(1);
}
