/**
 * After the command: the declared outputs as a tar blob (or inline, for small fast-path
 * results), and — for a successful cacheable job — the action-cache entry. Only builders write
 * the action cache.
 */
import { actionKey, type ActionResult } from '../../protocol/action.ts';
import type { BlobRef, InlineResult } from '../../protocol/job.ts';
import { blobKey } from '../../protocol/store-keys.ts';
import type { BlobStore } from '../../storage/port.ts';
import type { JobRecord } from '../../protocol/farm.ts';
import { collectOutputs } from './collect-outputs.ts';
import { readInlineResult } from './inline-io.ts';

export interface FinishedOutputs {
  outputs: BlobRef | null;
  missing: string[];
  result: InlineResult | undefined;
}

export async function finishOutputs(
  store: BlobStore,
  rec: JobRecord,
  root: string,
  run: {
    exitCode: number | null;
    succeeded: boolean;
    stdout: Buffer;
    stderr: Buffer;
    captureComplete: boolean;
  },
): Promise<FinishedOutputs> {
  const spec = rec.spec;
  const wantsInline = spec.inlineResult || spec.cache;
  const inline =
    wantsInline && run.captureComplete
      ? await readInlineResult(root, spec.outputs, run.stdout, run.stderr)
      : null;
  let outputs: BlobRef | null = null;
  let missing = inline?.missing ?? [];
  if (!inline || !spec.inlineResult) {
    const collected = await collectOutputs(store, root, spec.outputs, (d) => blobKey(rec.tenant, d));
    outputs = collected.outputs;
    missing = collected.missing;
  }
  if (spec.cache && run.succeeded && inline && rec.action && rec.cacheScope && run.exitCode === 0) {
    const entry: ActionResult = {
      exitCode: 0,
      ...inline.result,
      missing: inline.missing,
      createdAt: new Date().toISOString(),
    };
    await store.put(actionKey(rec.cacheScope, rec.action), new TextEncoder().encode(JSON.stringify(entry)));
  }
  return { outputs, missing, result: spec.inlineResult && inline ? inline.result : undefined };
}
