/**
 * This machine's recent results: the signed action results kiln cc got from the farm (a compile
 * it sent, or a direct-mode hit answered by `GET /api/v1/actions/{key}`), kept by gateway and
 * action key next to the manifests, so a direct-mode hit needs no round trip (ccache's local
 * cache, with the farm's results in it). A result read here is checked like the farm's answer
 * (client/verify-result.ts) before anything of it is written; one that fails is removed and the
 * farm is asked instead.
 *
 * Bounded by `KILN_CC_RESULTS_MB` (@default 1024; 0 keeps and reads none): past the bound the least
 * recently used results go (a hit renews a result's mtime) until a fifth of the room is free.
 * Files: `<manifests>/results/<2 hex>/<sha256(gateway, action)>.json`. The local keep
 * (client/cc/local-keep.ts) stores the outputs of compiles that ran here in the same store, under
 * the gateway name `local` (no URL), by the digest of their contents, checked on every hit.
 */
import {
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import type { ActionResultView } from '../../protocol/action.ts';
import type { JobView } from '../../protocol/job.ts';
import { sha256 } from './file-digests.ts';

/** One kept result. */
interface Kept {
  v: 1;
  gateway: string;
  action: string;
  result: ActionResultView;
}

/** Bytes this process wrote since it last trimmed the store. */
let sinceTrim = 0;

/** The bound in bytes (`KILN_CC_RESULTS_MB`). */
export function resultsBound(env: NodeJS.ProcessEnv): number {
  const mb = Number(env.KILN_CC_RESULTS_MB ?? 1024);
  return Number.isFinite(mb) && mb >= 0 ? mb * 1024 * 1024 : 1024 * 1024 * 1024;
}

export const resultsDir = (manifests: string): string => path.join(manifests, 'results');

/** Where the result of `action` from `gateway` is kept. */
export function resultFile(dir: string, gateway: string, action: string): string {
  const k = sha256(`${gateway}\n${action}`);
  return path.join(dir, k.slice(0, 2), `${k}.json`);
}

/** The kept result of `action` from `gateway`, or null; a read renews it. */
export function readResult(dir: string, gateway: string, action: string): ActionResultView | null {
  const file = resultFile(dir, gateway, action);
  let kept: Kept;
  try {
    kept = JSON.parse(readFileSync(file, 'utf8')) as Kept;
  } catch {
    return null;
  }
  if (kept?.v !== 1 || kept.gateway !== gateway || kept.action !== action || !kept.result) return null;
  try {
    const now = new Date();
    utimesSync(file, now, now);
  } catch {
    /* gone meanwhile: still a good answer */
  }
  return kept.result;
}

/** Removes a kept result (one that failed its check). */
export function dropResult(dir: string, gateway: string, action: string): void {
  try {
    unlinkSync(resultFile(dir, gateway, action));
  } catch {
    /* already gone */
  }
}

/** A successful farm job's result as the action cache holds it (the same signed manifest). */
export function resultOfJob(job: JobView): ActionResultView | null {
  if (job.exitCode !== 0 || !job.result || !job.signature || job.signal !== null || job.outputs !== null)
    return null;
  return {
    exitCode: 0,
    ...job.result,
    missing: job.missingOutputs ?? [],
    createdAt: job.finishedAt ?? new Date().toISOString(),
    signature: job.signature,
  };
}

/** Keeps a checked result; never throws (a result not kept costs a round trip next time). */
export function keepResult(
  dir: string,
  gateway: string,
  action: string,
  result: ActionResultView,
  env: NodeJS.ProcessEnv,
): void {
  const bound = resultsBound(env);
  if (bound === 0) return;
  const file = resultFile(dir, gateway, action);
  const text = JSON.stringify({ v: 1, gateway, action, result } satisfies Kept);
  try {
    mkdirSync(path.dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, text);
    renameSync(tmp, file);
  } catch {
    return;
  }
  sinceTrim += text.length;
  // Each process trims after writing an eighth of the bound, and now and then anyway (short-lived clients).
  if (sinceTrim > bound / 8 || Math.random() < 1 / 256) {
    sinceTrim = 0;
    trimResults(dir, bound);
  }
}

/** Removes the least recently used results until they take at most 80% of `bound` bytes. */
export function trimResults(dir: string, bound: number): void {
  const all: { file: string; size: number; used: number }[] = [];
  let total = 0;
  for (const sub of safeList(dir)) {
    for (const name of safeList(path.join(dir, sub))) {
      const file = path.join(dir, sub, name);
      const st = statSync(file, { throwIfNoEntry: false });
      if (!st?.isFile()) continue;
      all.push({ file, size: st.size, used: st.mtimeMs });
      total += st.size;
    }
  }
  if (total <= bound) return;
  all.sort((a, b) => a.used - b.used);
  for (const r of all) {
    if (total <= bound * 0.8) break;
    try {
      unlinkSync(r.file);
      total -= r.size;
    } catch {
      /* another process took it */
    }
  }
}

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
