/**
 * Output crosses the client unchanged: CRLF line ends and bytes that are not UTF-8 (a Windows
 * compiler's code page, a binary tool) reach stdout/stderr exactly as the farm sent them, from
 * `kiln cc`'s inline result (stdout: a farm compile with diagnostics is redone locally) and from
 * `kiln logs` (stdout and stderr). The farm is a local HTTP server that answers
 * those bytes (no builder: what is under test is the client's handling of them).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { COMMANDS } from '../../client/commands/index.ts';
import { main } from '../../client/main.ts';
import { Capture } from '../helpers/cli.ts';
import { createResultSigner } from '../../builders/core/result-signer.ts';
import { decodeJobBody, JOB_BODY_TYPE } from '../../protocol/job-body.ts';

const OUT = Buffer.concat([
  Buffer.from('line one\r\nzwei: \xfc\xe9\r\n', 'latin1'),
  Buffer.from([0xff, 0xfe, 0, 13, 10]),
]);
const ERR = Buffer.from('a.c(1): warning C4996: \x93quoted\x94\r\n', 'latin1');
const OBJ = Buffer.from([0x64, 0x86, 1, 0, 0xde, 0xad, 0xbe, 0xef]);
const b64 = (b: Buffer): string => b.toString('base64');
const ACTION = 'a'.repeat(64);
const signer = createResultSigner();

/** `kiln args…` in-process; stdout and stderr as bytes. */
async function kilnBytes(args: string[], cwd: string, env: NodeJS.ProcessEnv) {
  const stdout = new Capture();
  const stderr = new Capture();
  const signal = new AbortController().signal;
  const code = await main(args, { stdout, stderr, cwd, env, signal }, COMMANDS);
  return { code, stdout: Buffer.concat(stdout.chunks), stderr: Buffer.concat(stderr.chunks) };
}

describe('output bytes pass through unchanged', () => {
  let server: Server;
  let url = '';
  let work = '';

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'kiln-bytes-'));
    server = createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const path = req.url ?? '';
      if (req.method === 'POST' && path.startsWith('/api/v1/jobs')) {
        // The compile's answer: its stdout, and the object at the output path the spec names
        // (kiln cc compiles locally when the farm's compile printed diagnostics on stderr).
        // A cache hit, signed as a builder signs it (the client refuses an unsigned result).
        // kiln cc sends the binary job body (protocol/job-body.ts); kiln run sends JSON.
        const body = Buffer.concat(chunks);
        const spec =
          req.headers['content-type'] === JOB_BODY_TYPE
            ? await decodeJobBody(body)
            : (JSON.parse(body.toString()) as { outputs: string[] });
        const result = {
          stdout: b64(OUT),
          stderr: '',
          files: [{ path: spec.outputs[0]!, data: b64(OBJ), executable: false }],
        };
        const job = { id: 'j1', state: 'cached', exitCode: 0, signal: null, error: null, builder: null };
        const signature = await signer.sign({
          job: 'j1',
          action: ACTION,
          builder: 'b1',
          exitCode: 0,
          signal: null,
          outputs: null,
          inline: result,
          missing: [],
        });
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            job: { ...job, outputs: null, missingOutputs: [], result, signature },
            token: 't',
            action: ACTION,
          }),
        );
      } else if (path.startsWith('/api/v1/jobs/j2/logs')) {
        res.writeHead(200, { 'content-type': 'application/x-ndjson' });
        const half = Math.floor(OUT.length / 2);
        const lines = [
          { id: '1-0', attempt: 1, stream: 'stdout', data: b64(OUT.subarray(0, half)) },
          { id: '1-1', attempt: 1, stream: 'stderr', data: b64(ERR) },
          { id: '1-2', attempt: 1, stream: 'stdout', data: b64(OUT.subarray(half)) },
        ];
        res.end(lines.map((l) => JSON.stringify(l) + '\n').join(''));
      } else {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { code: 'ERR_NOT_FOUND', message: `no route ${path}` } }));
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await new Promise((r) => server.close(r));
    await rm(work, { recursive: true, force: true });
  });

  it('kiln cc: the inline result’s stdout and object, byte for byte', async () => {
    await writeFile(join(work, 'a.c'), 'int x;\r\n');
    const env = { PATH: process.env.PATH, KILN_GATEWAY: url, KILN_STATS_FILE: join(work, 'stats.json') };
    const r = await kilnBytes(['cc', 'gcc', '-c', 'a.c', '-o', 'a.o'], work, env);
    assert.equal(r.code, 0, r.stderr.toString('latin1'));
    assert.deepEqual(r.stdout, OUT);
    assert.deepEqual(r.stderr, Buffer.alloc(0));
    assert.deepEqual(await readFile(join(work, 'a.o')), OBJ);
  });

  it('kiln logs: CRLF and non-UTF-8 bytes, split across lines, arrive whole', async () => {
    const r = await kilnBytes(['logs', 'j2'], work, { KILN_GATEWAY: url, HOME: work });
    assert.equal(r.code, 0, r.stderr.toString('latin1'));
    assert.deepEqual(r.stdout, OUT);
    assert.deepEqual(r.stderr, ERR);
  });
});
