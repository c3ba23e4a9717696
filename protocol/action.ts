/**
 * The action cache: results of successful cacheable jobs, keyed by a digest that covers
 * everything that decides the result. Written by builders only; read by the gateway.
 */
import { canonicalDigest } from './digest.ts';
import type { JobSpec } from './job.ts';
import type { ResultSignature, SignatureView } from './result-signature.ts';

/** A finished action as the cache keeps it (small outputs inline, so a hit is one read). */
export interface ActionResult {
  exitCode: number;
  /** base64 */
  stdout: string;
  /** base64 */
  stderr: string;
  /** Declared outputs that were produced. */
  files: InlineFile[];
  /** Declared outputs that were not produced. */
  missing: string[];
  createdAt: string;
  /** The producing builder's signature (over the entry with `job`, `action` and its builder). */
  signature?: ResultSignature;
}

/** A cached action as the gateway answers it: the signature tells whether its key is registered. */
export type ActionResultView = Omit<ActionResult, 'signature'> & { signature?: SignatureView };

/** A file carried inside a JSON body. */
export interface InlineFile {
  path: string;
  /** base64 */
  data: string;
  executable: boolean;
}

/**
 * The action key: platform, toolchain digest, argv, env, cwd, every input digest (input tar,
 * tree manifest — which names every file digest — and inline files), declared outputs and the
 * sandbox profile. `inlineDigests` are the SHA-256 of the inline files, in order.
 */
export function actionDigest(
  spec: JobSpec,
  toolchainDigest: string,
  inlineDigests: string[],
): Promise<string> {
  return canonicalDigest({
    v: 1,
    platform: spec.platform,
    toolchain: toolchainDigest,
    argv: spec.argv,
    env: spec.env,
    cwd: spec.cwd,
    input: spec.input?.digest ?? null,
    tree: spec.tree?.digest ?? null,
    inline: (spec.inline ?? []).map((f, i) => ({
      path: f.path,
      executable: f.executable,
      digest: inlineDigests[i],
    })),
    outputs: spec.outputs,
    profile: spec.profile,
  });
}

/** The store key of a cached action in a scope (`t:<tenant>` or a shared scope name). */
export function actionKey(scope: string, digest: string): string {
  return `ac/${encodeURIComponent(scope)}/${digest}`;
}

/** The private scope of a tenant. */
export function tenantScope(tenant: string): string {
  return `t:${tenant}`;
}
