/**
 * The cost per job of signed results, in microseconds: the builder's signature over a result
 * (builders/core/result-signer.ts: manifest, inline data hashed, Ed25519 sign) and the client's
 * check of it (client/verify-result.ts: manifest again, Ed25519 verify through Web Crypto), for a
 * no-op job's result (no outputs) and a kiln cc result (a 64 KiB object inline). bench/overhead.ts
 * prints them beside the no-op round trip.
 */
import { createResultSigner } from '../builders/core/result-signer.ts';
import { verifyJobResult } from '../client/verify-result.ts';
import type { JobView } from '../protocol/job.ts';
import { summarise, type Summary } from './stats.ts';

export interface SignCost {
  what: string;
  /** Latencies in microseconds (p50, p99, mean; perSec = operations a second on one core). */
  sign: Summary;
  verify: Summary;
}

async function micros(n: number, once: () => Promise<void>): Promise<Summary> {
  for (let i = 0; i < 50; i++) await once(); // warm-up: JIT, the imported key
  const lat: number[] = [];
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const s = performance.now();
    await once();
    lat.push((performance.now() - s) * 1000);
  }
  return summarise(lat, performance.now() - t0);
}

function view(inline: JobView['result'] | undefined): JobView {
  return {
    id: 'bench-job',
    state: 'succeeded',
    platform: 'linux-x86_64',
    argv: ['true'],
    attempt: 1,
    builder: 'bench-0000abcd',
    createdAt: '',
    startedAt: '',
    finishedAt: '',
    exitCode: 0,
    signal: null,
    error: null,
    outputs: null,
    missingOutputs: [],
    rejectedOutputs: [],
    logTruncated: false,
    ...(inline ? { result: inline } : {}),
  };
}

/** Measures sign and verify `n` times for each kind of result. */
export async function signCosts(n = 2000): Promise<SignCost[]> {
  const signer = createResultSigner();
  const object = new Uint8Array(64 * 1024).map((_, i) => (i * 31) & 0xff);
  const cases: [string, JobView['result'] | undefined][] = [
    ['no-op job (no outputs)', undefined],
    [
      'kiln cc result (64 KiB object inline)',
      {
        stdout: '',
        stderr: '',
        files: [{ path: 'a.o', data: Buffer.from(object).toString('base64'), executable: false }],
      },
    ],
  ];
  const out: SignCost[] = [];
  for (const [what, inline] of cases) {
    const base = view(inline);
    const parts = {
      job: base.id,
      action: null,
      builder: base.builder!,
      exitCode: 0,
      signal: null,
      outputs: null,
      inline: inline ?? null,
      missing: [],
    };
    const sig = await signer.sign(parts);
    const signed: JobView = { ...base, signature: { ...sig, registered: true } };
    out.push({
      what,
      sign: await micros(n, async () => {
        await signer.sign(parts);
      }),
      verify: await micros(n, () => verifyJobResult(signed, { action: null }, true)),
    });
  }
  return out;
}

/** Printable rows: µs per operation and what sign + verify adds to a job. */
export function signRows(costs: SignCost[], roundTripP50Ms: number): string[] {
  const f = (x: number): string => x.toFixed(0).padStart(8);
  const rows = [
    `${'signed results (µs per job)'.padEnd(44)} ${'sign p50'.padStart(8)} ${'p99'.padStart(8)} ${'verify'.padStart(8)} ${'p99'.padStart(8)} ${'sum p50'.padStart(8)}  of no-op p50`,
  ];
  for (const c of costs) {
    const sum = c.sign.p50 + c.verify.p50;
    const share = ((sum / 1000 / roundTripP50Ms) * 100).toFixed(2);
    rows.push(
      `${c.what.padEnd(44)} ${f(c.sign.p50)} ${f(c.sign.p99)} ${f(c.verify.p50)} ${f(c.verify.p99)} ${f(sum)}  ${share}%`,
    );
  }
  return rows;
}
