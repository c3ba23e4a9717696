/**
 * `kiln run` unchanged against a gateway running under Deno, with the edge's store: S3 (s3rver
 * on loopback), so input and output bodies go by presigned URL and never through the gateway.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDevFarm, type DevFarm } from '../../wiring/dev-farm.ts';
import { kiln } from '../helpers/cli.ts';
import { denoGatewayLauncher } from '../helpers/deno-gateway.ts';
import { s3Storage, startS3rver, type S3rverHandle } from '../helpers/s3rver.ts';

describe('kiln CLI against a gateway on Deno (S3 store)', { timeout: 120_000 }, () => {
  let s3: S3rverHandle;
  let farm: DevFarm;
  let work: string;
  let opts: { url: string; token: string; cwd: string };

  before(async () => {
    s3 = await startS3rver();
    farm = await startDevFarm({
      port: 0,
      s3: s3Storage(s3),
      serveGateway: denoGatewayLauncher(),
    });
    work = await mkdtemp(join(tmpdir(), 'kiln-e2e-deno-'));
    opts = { url: farm.url, token: farm.token, cwd: work };
  });
  after(async () => {
    await farm?.stop();
    await s3?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('streams the output and exits with the job’s exit code', async () => {
    const r = await kiln(['run', '--', 'sh', '-c', 'echo hi; exit 5'], opts);
    assert.equal(r.code, 5, r.stderr);
    assert.equal(r.stdout, 'hi\n');
  });

  it('sends an input directory and brings an output file back, bodies by presigned URL', async () => {
    const src = join(work, 'src');
    await mkdir(src);
    await writeFile(join(src, 'in.txt'), 'shout this\n');
    const r = await kiln(
      ['run', '--input', 'src', '--output', 'out.txt', '--', 'sh', '-c', 'tr a-z A-Z < in.txt > out.txt'],
      opts,
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await readFile(join(src, 'out.txt'), 'utf8'), 'SHOUT THIS\n');
    // The gateway saw no upload (PUT) and answered the outputs download with a redirect to S3.
    const metrics = await (await fetch(`${farm.url}/metrics`)).text();
    assert.doesNotMatch(metrics, /kiln_http_requests_total\{method="PUT"/);
    assert.match(metrics, /kiln_http_requests_total\{method="GET",status="302"\} 1\n/);
  });
});
