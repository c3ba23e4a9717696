/** Object-store key layout, shared by gateway and builders. */

/** A tenant's content-addressed blob (inputs, outputs). */
export function blobKey(tenant: string, digest: string): string {
  return `blobs/${encodeURIComponent(tenant)}/${digest}`;
}
