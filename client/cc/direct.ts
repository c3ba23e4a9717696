/**
 * kiln cc's direct mode: a compile answered from its manifest (client/cc/manifest.ts) and a
 * cached result: this machine's recent ones (client/cc/results.ts), else the farm's cache.
 */
import { renameSync, writeFileSync } from 'node:fs';
import type { ActionResultView } from '../../protocol/action.ts';
import { verifyAction } from '../verify-result.ts';
import type { RemotePlan } from './args.ts';
import type { Writable } from 'node:stream';
import { callJson, type Api } from '../http.ts';
import { lookupManifest } from './manifest.ts';
import { dropResult, keepResult, readResult, resultsBound, resultsDir } from './results.ts';
import type { CcSettings } from './settings.ts';
import { recordEvent } from './stats.ts';

/**
 * Writes a file through a temporary one and a rename, as the compiler's output appears at once.
 * Synchronous: an object or a depfile is written to the page cache in well under a millisecond,
 * less than the file handle and thread-pool round trips of the asynchronous calls.
 */
export async function place(file: string, data: Buffer | string): Promise<void> {
  const tmp = `${file}.kiln-${process.pid}.tmp`;
  writeFileSync(tmp, data);
  renameSync(tmp, file);
}

/** The action's result: this machine's kept one when it passes its check, else the farm's (then kept). */
async function resultOf(
  action: string,
  dir: string,
  api: Api,
  s: CcSettings,
  env: NodeJS.ProcessEnv,
): Promise<ActionResultView | null> {
  const results = resultsDir(dir);
  const kept = resultsBound(env) > 0 ? readResult(results, api.base, action) : null;
  if (kept) {
    const ok = await verifyAction(kept, action, s.verifySigner).then(
      () => true,
      () => false,
    );
    if (ok) return kept;
    dropResult(results, api.base, action); // damaged here: the farm's answer is checked in turn
  }
  // Not retried: any failure here only means the usual path.
  const r = await callJson<{ result: ActionResultView }>(
    { ...api, retryMs: 0 },
    `/api/v1/actions/${action}`,
    {
      timeoutMs: 30_000,
    },
  ).catch(() => null);
  if (!r?.result) return null;
  // A result refused for its signature stops the compile (isSignatureRefusal): nothing is written.
  await verifyAction(r.result, action, s.verifySigner);
  keepResult(results, api.base, action, r.result, env);
  return r.result;
}

/** Answers a compile from its manifest and a cached result (kept here or the farm's); false when it cannot. */
export async function directHit(
  plan: RemotePlan,
  dir: string,
  key: string,
  root: string | null,
  api: Api,
  s: CcSettings,
  io: { env: NodeJS.ProcessEnv; stdout: Writable; stderr: Writable },
  /** The local compile would colour its diagnostics: an entry with any is no hit. */
  terminal: boolean,
): Promise<boolean> {
  const entry = lookupManifest(dir, key, root);
  if (!entry || (entry.stderr && terminal)) return false;
  const result = await resultOf(entry.action, dir, api, s, io.env);
  // The result's stderr (base64) is the one checked against the local preprocessing when recorded.
  const obj =
    result?.exitCode === 0 && result.stderr === Buffer.from(entry.stderr ?? '').toString('base64')
      ? result.files.find((f) => f.path === entry.output)
      : undefined;
  if (!obj) return false;
  if (plan.depfile && entry.depfile !== null) await place(plan.depfile, entry.depfile);
  if (entry.stdout !== undefined) io.stdout.write(Buffer.from(entry.stdout, 'latin1'));
  if (entry.stderr) io.stderr.write(entry.stderr);
  await place(plan.output, Buffer.from(obj.data, 'base64'));
  recordEvent('hit', undefined, { env: io.env });
  if (s.verbose)
    io.stderr.write(`kiln cc: direct hit (action ${entry.action.slice(0, 16)}), no preprocessing\n`);
  return true;
}
