/**
 * What every fault scenario shares: jobs submitted through the kiln CLI (in-process) whose right
 * output is known, their tally into a row of the fault table (appended to
 * test-artifacts/fault-rows.jsonl; scripts/test.mjs prints the table after the run), and probes
 * of Redis to find the worst moment to strike.
 */
import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { kiln, type CliResult } from '../helpers/cli.ts';
import type { FaultFarm, FaultRow, Proc } from './farm.ts';

const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));

export interface Submitted {
  n: number;
  run: Promise<CliResult>;
}

/** `kiln run` of a job that says begin-N, sleeps, says end-N: its right output is exactly that. */
export function submit(
  f: FaultFarm,
  n: number,
  sleepSec: number,
  extra: string[] = [],
  cwd?: string,
): Submitted {
  return submitWith(f, n, `sleep ${sleepSec}`, extra, cwd);
}

/** `kiln run` of a job that says begin-N, runs `middle`, and says end-N only if `middle` succeeded. */
export function submitWith(
  f: FaultFarm,
  n: number,
  middle: string,
  extra: string[] = [],
  cwd?: string,
): Submitted {
  const script = `echo begin-${n}; ${middle} && echo end-${n}`;
  return {
    n,
    run: kiln(['run', ...extra, '--', 'sh', '-c', script], {
      url: f.url,
      token: f.token,
      ...(cwd ? { cwd } : {}),
      env: { KILN_RETRY_SEC: '90' },
    }),
  };
}

/**
 * Classifies every submitted job; `lost` counts those not settled by `deadlineMs`. `rightOutput`
 * checks more of a job that exited 0 with its exact stdout (the files it brought back).
 */
export async function tally(
  scenario: string,
  jobs: Submitted[],
  deadlineMs = 120_000,
  rightOutput: (j: Submitted) => Promise<boolean> = async () => true,
): Promise<FaultRow> {
  const row: FaultRow = {
    scenario,
    submitted: jobs.length,
    completedOnce: 0,
    failedClearly: 0,
    lost: 0,
    duplicated: 0,
  };
  const timeout = new Promise<null>((r) => setTimeout(() => r(null), deadlineMs).unref());
  for (const j of jobs) {
    const r = await Promise.race([j.run, timeout]);
    if (!r) {
      row.lost++;
      continue;
    }
    const ends = r.stdout.split(`end-${j.n}`).length - 1;
    const begins = r.stdout.split(`begin-${j.n}`).length - 1;
    if (ends > 1 || begins > 1) row.duplicated++;
    else if (r.code === 0 && r.stdout === `begin-${j.n}\nend-${j.n}\n` && (await rightOutput(j)))
      row.completedOnce++;
    // A clear error names its cause: ERR_INTERNAL ("a bug") does not count as one.
    else if (r.code !== 0 && /\(ERR_(?!INTERNAL\))[A-Z_]+\)/.test(r.stderr)) row.failedClearly++;
    else {
      row.lost++;
      process.stderr.write(
        `job ${j.n}: code ${r.code} stdout ${JSON.stringify(r.stdout)} stderr ${r.stderr}\n`,
      );
    }
  }
  mkdirSync(ARTIFACTS, { recursive: true });
  appendFileSync(`${ARTIFACTS}fault-rows.jsonl`, JSON.stringify(row) + '\n');
  process.stdout.write(`# fault row: ${JSON.stringify(row)}\n`);
  return row;
}

/** Builder id → how many of its jobs are running now (from Redis). */
export async function runningByBuilder(f: FaultFarm): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  const assigned = await f.conn
    .hgetall(f.keys.registry('linux-x86_64').assign)
    .catch(() => ({}) as Record<string, string>);
  for (const [job, bid] of Object.entries(assigned)) {
    if ((await f.conn.hget(f.keys.job(job), 'state').catch(() => null)) === 'running')
      out.set(bid, (out.get(bid) ?? 0) + 1);
  }
  return out;
}

export async function until<T>(
  what: string,
  probe: () => Promise<T | null | undefined | false>,
  ms = 60_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export const procOf = (f: FaultFarm, bid: string): Proc | undefined =>
  f.builders.find((b) => f.builderId(b) === bid);

export const expectClean = (row: FaultRow): void => {
  assert.equal(row.lost, 0, `${row.scenario}: lost`);
  assert.equal(row.duplicated, 0, `${row.scenario}: duplicated`);
};
