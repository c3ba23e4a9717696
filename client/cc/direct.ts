/** kiln cc's direct mode: a compile answered from its manifest (client/cc/manifest.ts) and the farm's cache. */
import { rename, writeFile } from 'node:fs/promises';
import type { ActionResultView } from '../../protocol/action.ts';
import { verifyAction } from '../verify-result.ts';
import type { RemotePlan } from './args.ts';
import type { Writable } from 'node:stream';
import { callJson, type Api } from '../http.ts';
import { lookupManifest } from './manifest.ts';
import type { CcSettings } from './settings.ts';
import { recordEvent } from './stats.ts';

/** Writes a file through a temporary one and a rename, as the compiler's output appears at once. */
export async function place(file: string, data: Buffer | string): Promise<void> {
  const tmp = `${file}.kiln-${process.pid}.tmp`;
  await writeFile(tmp, data);
  await rename(tmp, file);
}

/** Answers a compile from its manifest and the farm's cache; false when it cannot. */
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
  // Not retried: any failure here only means the usual path.
  const r = await callJson<{ result: ActionResultView }>(
    { ...api, retryMs: 0 },
    `/api/v1/actions/${entry.action}`,
    {
      timeoutMs: 30_000,
    },
  ).catch(() => null);
  const result = r?.result;
  // The result's stderr (base64) is the one checked against the local preprocessing when recorded.
  const obj =
    result?.exitCode === 0 && result.stderr === Buffer.from(entry.stderr ?? '').toString('base64')
      ? result.files.find((f) => f.path === entry.output)
      : undefined;
  if (!obj || !result) return false;
  // A result refused for its signature stops the compile (isSignatureRefusal): nothing is written.
  await verifyAction(result, entry.action, s.verifySigner);
  if (plan.depfile && entry.depfile !== null) await place(plan.depfile, entry.depfile);
  if (entry.stdout !== undefined) io.stdout.write(Buffer.from(entry.stdout, 'latin1'));
  if (entry.stderr) io.stderr.write(entry.stderr);
  await place(plan.output, Buffer.from(obj.data, 'base64'));
  recordEvent('hit', undefined, { env: io.env });
  if (s.verbose)
    io.stderr.write(`kiln cc: direct hit (action ${entry.action.slice(0, 16)}), no preprocessing\n`);
  return true;
}
