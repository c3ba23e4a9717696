/** `kiln dev` — a whole farm on this machine, until Ctrl-C. */
import { startDevFarm } from '../../wiring/dev-farm.ts';
import { say, type Io } from '../command.ts';
import { UserError } from '../errors.ts';
import { runExample } from './dev-example.ts';
import { logger, untilStopped } from './daemon.ts';

interface DevArgs {
  builders: number;
  slots: number;
  port: number;
  s3?: string;
  example: boolean;
  verbose: boolean;
}

function parseS3(url: string): {
  type: 's3';
  endpoint: string;
  bucket: string;
  prefix: string;
  region: string;
} {
  const m = /^(https?:\/\/[^/]+)\/([^/]+)\/?(.*)$/.exec(url);
  if (!m) throw new UserError(`--s3 takes http(s)://HOST:PORT/BUCKET[/PREFIX], not ${url}`);
  return { type: 's3', endpoint: m[1]!, bucket: m[2]!, prefix: m[3] ?? '', region: 'us-east-1' };
}

export async function handler(a: DevArgs, io: Io): Promise<number> {
  if (a.builders < 1 || a.slots < 1) throw new UserError('--builders and --slots must be at least 1');
  const log = logger(io, 'dev');
  const farm = await startDevFarm({
    builders: a.builders,
    slots: a.slots,
    port: a.port,
    ...(a.s3 ? { s3: parseS3(a.s3) } : {}),
    log: a.verbose ? log : (m) => (/error|failed|refused/i.test(m) ? log(m) : undefined),
  });
  say(
    io.stdout,
    `kiln dev: farm up — redis ${farm.redis.url}, ${a.builders} builder(s) × ${a.slots} slot(s), store ${farm.storage.type}`,
  );
  say(io.stdout, `export KILN_GATEWAY=${farm.url}`);
  say(io.stdout, `export KILN_TOKEN=${farm.token}`);
  try {
    if (a.example) await runExample(farm.url, farm.token, io);
    say(io.stdout, 'kiln dev: running; Ctrl-C stops everything it started');
    await untilStopped(io);
  } finally {
    say(io.stderr, 'kiln dev: stopping');
    await farm.stop();
  }
  return 0;
}
