/**
 * After the command: the declared outputs as a tar blob (or inline, for small fast-path
 * results), and — for a successful cacheable job — the action-cache entry. Only builders write
 * the action cache.
 */
import { actionKey, type ActionResult } from '../../protocol/action.ts';
import { limitsSchema, type BlobRef, type InlineResult } from '../../protocol/job.ts';
import { blobKey } from '../../protocol/store-keys.ts';
import type { BlobStore } from '../../storage/port.ts';
import type { JobRecord } from '../../protocol/farm.ts';
import { collectOutputs } from './collect-outputs.ts';
import { readInlineResult } from './inline-io.ts';
import type { RejectedOutput } from './output-path.ts';
import type { ResultSigner } from './result-signer.ts';

export interface FinishedOutputs {
  outputs: BlobRef | null;
  missing: string[];
  rejected: RejectedOutput[];
  result: InlineResult | undefined;
}

export async function finishOutputs(
  store: BlobStore,
  rec: JobRecord,
  root: string,
  /** Who signs the cache entry: the builder's id and signer. */
  by: { bid: string; signer: ResultSigner },
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
  let rejected = inline?.rejected ?? [];
  if (!inline || !spec.inlineResult) {
    const collected = await collectOutputs(
      store,
      root,
      spec.outputs,
      (d) => blobKey(rec.tenant, d),
      spec.limits.outputBytes ?? limitsSchema.parse({}).outputBytes,
    );
    outputs = collected.outputs;
    missing = collected.missing;
    rejected = collected.rejected;
  }
  const cacheable = run.succeeded && run.exitCode === 0 && rejected.length === 0;
  if (spec.cache && cacheable && inline && rec.action && rec.cacheScope) {
    const signature = await by.signer.sign({
      job: rec.id,
      action: rec.action,
      builder: by.bid,
      exitCode: 0,
      signal: null,
      outputs: null,
      inline: inline.result,
      missing: inline.missing,
    });
    const entry: ActionResult = {
      exitCode: 0,
      ...inline.result,
      missing: inline.missing,
      createdAt: new Date().toISOString(),
      signature,
    };
    await store.put(actionKey(rec.cacheScope, rec.action), new TextEncoder().encode(JSON.stringify(entry)));
  }
  return { outputs, missing, rejected, result: spec.inlineResult && inline ? inline.result : undefined };
}
