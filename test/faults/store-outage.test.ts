/**
 * Fault scenarios (the blob store killed mid-transfer) against real processes; see
 * test/faults/farm.ts and scenario.ts. The store is s3rver as a process that SIGKILLs itself at a
 * chosen byte of a transfer (s3rver-child.ts), stays down for a moment, and comes back on its port
 * with the same data: mid-upload (the client's presigned PUT of an input), mid-download (a
 * builder fetching an input, and the client fetching a job's outputs). Each job checks the bytes
 * it got (the input's SHA-256 in the sandbox, the outputs' on the client).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startFaultFarm, type FaultFarm } from './farm.ts';
import { expectClean, submitWith, tally, type Submitted } from './scenario.ts';

const MiB = 1024 ** 2;
/** How long the store stays down after it died (the outage itself). */
const OUTAGE_MS = 2000;

/** An input folder `in-N` holding one incompressible 3 MiB file; answers the file's SHA-256. */
async function inputOf(f: FaultFarm, n: number): Promise<string> {
  const bytes = randomBytes(3 * MiB);
  await mkdir(join(f.dir, `in-${n}`), { recursive: true });
  await writeFile(join(f.dir, `in-${n}`, 'big.bin'), bytes);
  return createHash('sha256').update(bytes).digest('hex');
}

/** A job that runs only if its input arrived whole. */
function withInput(f: FaultFarm, n: number, sha: string): Submitted {
  const check = `test "$(sha256sum big.bin | cut -d' ' -f1)" = ${sha}`;
  return submitWith(f, n, check, ['--input', `in-${n}`], f.dir);
}

/** Waits until the store killed itself at its fault, keeps it down, then starts it again. */
async function outage(f: FaultFarm): Promise<string> {
  const store = f.store!;
  const line = (await store.proc.waitFor(/^store fault: killed after .*/, 90_000))[0];
  await store.proc.exited;
  await new Promise((r) => setTimeout(r, OUTAGE_MS));
  await store.restart();
  return line;
}

describe('faults: store outage mid-transfer', { timeout: 175_000 }, () => {
  it('store down mid-upload (client PUT of an input): every job completes once', async () => {
    const f = await startFaultFarm({ builders: 1, slots: 3, store: 's3' });
    try {
      await f.store!.restart({ method: 'PUT', path: '/blobs/', afterBytes: MiB });
      const shas = await Promise.all([0, 1, 2].map((n) => inputOf(f, n)));
      const jobs = shas.map((sha, n) => withInput(f, n, sha));
      assert.match(await outage(f), /PUT \/kiln-faults\/blobs\//);
      const row = await tally('store down mid-upload (client PUT)', jobs);
      expectClean(row);
      assert.equal(row.completedOnce, 3);
    } finally {
      await f.stop();
    }
  });

  it('store down mid-download (builder fetching an input): every job completes once', async () => {
    const f = await startFaultFarm({ builders: 1, slots: 2, store: 's3' });
    try {
      const shas = await Promise.all([0, 1].map((n) => inputOf(f, n)));
      // Only the builder reads input blobs back (the client and the gateway ask HEAD): the GET
      // of the first input is the builder's.
      await f.store!.restart({ method: 'GET', path: `/blobs/ops/${shas[0]}$`, afterBytes: MiB });
      const jobs = shas.map((sha, n) => withInput(f, n, sha));
      assert.match(await outage(f), new RegExp(`GET /kiln-faults/blobs/ops/${shas[0]}`));
      const row = await tally('store down mid-download (builder input)', jobs);
      expectClean(row);
      assert.equal(row.completedOnce, 2);
    } finally {
      await f.stop();
    }
  });

  it('store down mid-download (client fetching outputs): every job completes once', async () => {
    const f = await startFaultFarm({ builders: 1, slots: 2, store: 's3' });
    try {
      // The outputs' tar is the only big GET: the jobs have no inputs.
      await f.store!.restart({ method: 'GET', path: '/blobs/', afterBytes: MiB });
      const make = 'head -c 3145728 /dev/urandom > out.bin && sha256sum out.bin >&2';
      const jobs = [0, 1].map((n) => {
        const dir = join(f.dir, `out-${n}`);
        return submitWith(f, n, make, ['--output', 'out.bin', '--output-dir', dir], f.dir);
      });
      assert.match(await outage(f), /GET \/kiln-faults\/blobs\//);
      // Right output: the file the client placed is the one the job made (its SHA-256 on stderr).
      const rightOutput = async (j: Submitted): Promise<boolean> => {
        const made = /([0-9a-f]{64}) {2}out\.bin/.exec((await j.run).stderr)?.[1];
        const got = await readFile(join(f.dir, `out-${j.n}`, 'out.bin')).catch(() => null);
        return !!got && got.length === 3 * MiB && createHash('sha256').update(got).digest('hex') === made;
      };
      const row = await tally('store down mid-download (client outputs)', jobs, 120_000, rightOutput);
      expectClean(row);
      assert.equal(row.completedOnce, 2);
    } finally {
      await f.stop();
    }
  });
});
