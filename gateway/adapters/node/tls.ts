/**
 * HTTPS for the Node adapter: the server's options from `listen.tls`, the verified client
 * certificate of each request handed to the auth code, and the files read again when they change
 * (a renewed certificate is served to new connections without a restart).
 */
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import type { SecureContextOptions, TLSSocket } from 'node:tls';
import type { ListenTls } from '../../config.ts';
import { setPeerCertificate } from '../../auth/peer.ts';

/** Certificate, key and client CA as the TLS server takes them. */
export function secureContextOptions(tls: ListenTls): SecureContextOptions {
  return {
    cert: readFileSync(tls.cert),
    key: readFileSync(tls.key),
    ...(tls.clientCa !== undefined ? { ca: readFileSync(tls.clientCa) } : {}),
    ...(tls.crl !== undefined ? { crl: readFileSync(tls.crl) } : {}),
    minVersion: tls.minVersion,
  };
}

/**
 * https.createServer options: client certificates are asked for when there is a client CA, and
 * verified, but a failed one does not end the handshake: the request is answered 401 with the
 * reason (`client_cert` method), and a request without one may still carry a bearer token.
 */
export function httpsServerOptions(
  tls: ListenTls,
): SecureContextOptions & { requestCert: boolean; rejectUnauthorized: boolean } {
  return { ...secureContextOptions(tls), requestCert: tls.clientCa !== undefined, rejectUnauthorized: false };
}

/** Records the client certificate of `incoming`'s TLS socket beside `req`, when one was presented. */
export function tagPeer(req: Request, incoming: { socket: unknown }): void {
  const socket = incoming.socket as Partial<TLSSocket>;
  if (typeof socket.getPeerCertificate !== 'function') return;
  const cert = socket.getPeerCertificate();
  if (!cert || Object.keys(cert).length === 0) return; // none presented
  const subject: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(cert.subject ?? {}))
    if (v !== undefined) subject[k] = v as string | string[];
  const error: unknown = socket.authorizationError;
  const code = error instanceof Error ? ((error as NodeJS.ErrnoException).code ?? error.message) : error;
  setPeerCertificate(req, {
    subject,
    authorized: socket.authorized === true,
    ...(code !== null && code !== undefined ? { error: String(code) } : {}),
    fingerprint256: cert.fingerprint256,
  });
}

/** Calls `reload` with fresh options whenever one of the files changes; returns the stop function. */
export function watchTlsFiles(
  tls: ListenTls,
  reload: (o: SecureContextOptions) => void,
  log: (m: string) => void,
): () => void {
  const files = [tls.cert, tls.key, tls.clientCa, tls.crl].filter((f): f is string => f !== undefined);
  const onChange = (): void => {
    try {
      reload(secureContextOptions(tls));
      log(`kiln gateway: TLS files reloaded (${files.join(', ')})`);
    } catch (err) {
      // A half-written pair (new cert, old key) fails here; the next change retries.
      log(`kiln gateway: TLS files not reloaded: ${(err as Error).message}`);
    }
  };
  for (const f of files) watchFile(f, { interval: tls.reloadCheckMs, persistent: false }, onChange);
  return () => {
    for (const f of files) unwatchFile(f, onChange);
  };
}
