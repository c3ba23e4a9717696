/** Object-store key layout, shared by gateway and builders. */

/** A tenant's content-addressed blob (inputs, outputs). */
export function blobKey(tenant: string, digest: string): string {
  return `blobs/${encodeURIComponent(tenant)}/${digest}`;
}

/** A toolchain archive, shared by every tenant (presets name it). */
export function toolchainKey(digest: string): string {
  return `toolchains/${digest}`;
}
