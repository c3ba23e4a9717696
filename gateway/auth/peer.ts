/**
 * The verified TLS client certificate of a request, handed from the adapter (which terminates
 * TLS) to the neutral auth code. Kept beside the Request object, never in a header, so a client
 * cannot forge it.
 */

/** What the adapter learnt from the TLS handshake about the client's certificate. */
export interface PeerCertificate {
  /** Subject attributes (`CN`, `O`, `OU`, ...); a repeated attribute is a list. */
  subject: Record<string, string | string[]>;
  /** True when the certificate chains to the configured client CA and is within its dates. */
  authorized: boolean;
  /** Why it is not authorized (`CERT_HAS_EXPIRED`, `UNABLE_TO_VERIFY_LEAF_SIGNATURE`, ...). */
  error?: string;
  /** SHA-256 fingerprint, for logs. */
  fingerprint256?: string;
}

const peers = new WeakMap<Request, PeerCertificate>();

/** Records the certificate the client presented with `req` (adapters only). */
export function setPeerCertificate(req: Request, peer: PeerCertificate): void {
  peers.set(req, peer);
}

/** The certificate presented with `req`, or undefined when none was (or TLS is not used). */
export function peerCertificate(req: Request): PeerCertificate | undefined {
  return peers.get(req);
}
