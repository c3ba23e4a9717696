/** Object-store key layout, shared by gateway and builders. */

/** A tenant's content-addressed blob (inputs, outputs). */
export function blobKey(tenant: string, digest: string): string {
  return `blobs/${encodeURIComponent(tenant)}/${digest}`;
}

/** A toolchain archive, shared by every tenant (presets name it). */
export function toolchainKey(digest: string): string {
  return `toolchains/${digest}`;
}

/** Segment `index` of the log of one attempt of a job (protocol/log-segment.ts). */
export function logSegmentKey(tenant: string, jobId: string, attempt: number, index: number): string {
  return `${logPrefix(tenant, jobId)}${attempt}/${String(index).padStart(8, '0')}`;
}

/** The store prefix of every log segment of a job (ends with `/`). */
export function logPrefix(tenant: string, jobId: string): string {
  return `logs/${encodeURIComponent(tenant)}/${encodeURIComponent(jobId)}/`;
}
