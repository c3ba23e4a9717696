/** The API handle of a command: config loaded once, credentials attached. */
import { readFileSync } from 'node:fs';
import type { Api } from './http.ts';
import type { Io } from './command.ts';
import { loadClientConfig, type ClientConfig } from './config.ts';
import { UserError } from './errors.ts';

/** KILN_RETRY_SEC: how long calls are retried while the gateway is away (default 60). */
function retrySeconds(raw: string): number {
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n) || n < 0)
    throw new UserError(`KILN_RETRY_SEC must be a number of seconds (0 or more), not ${JSON.stringify(raw)}`);
  return n;
}

export function apiFor(io: Io, tokenOverride?: string): Api {
  const cfg = loadClientConfig(io.cwd, io.env);
  let told = 0;
  return {
    base: cfg.gateway,
    token: tokenOverride ?? cfg.token,
    credential: storedOrCiCredential(io, cfg),
    ...tlsOf(cfg),
    ...(io.env.KILN_RETRY_SEC !== undefined ? { retryMs: retrySeconds(io.env.KILN_RETRY_SEC) * 1000 } : {}),
    onRetry(err) {
      // One notice every few seconds is enough to say why the command is waiting.
      if (Date.now() - told < 5000) return;
      told = Date.now();
      io.stderr.write(`kiln: ${err.message}; retrying\n`);
    },
  };
}

/** The PEM files named by `[tls]` / KILN_TLS_*, read once. */
function tlsOf(cfg: ClientConfig): Pick<Api, 'tls' | 'storeCa'> {
  const { ca, cert, key } = cfg.tls;
  const storeCa = cfg.tls.storeCa ?? ca;
  if ((cert === undefined) !== (key === undefined))
    throw new UserError(
      'a client certificate needs both KILN_TLS_CERT and KILN_TLS_KEY (tls.cert and tls.key)',
    );
  const read = (what: string, file: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new UserError(
        `cannot read the TLS ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
      );
    }
  };
  const gatewayCa = ca !== undefined ? read('CA bundle', ca) : undefined;
  return {
    ...(gatewayCa !== undefined || cert !== undefined
      ? {
          tls: {
            ...(gatewayCa !== undefined ? { ca: gatewayCa } : {}),
            ...(cert !== undefined && key !== undefined
              ? { cert: read('certificate', cert), key: read('key', key) }
              : {}),
          },
        }
      : {}),
    ...(storeCa !== undefined
      ? { storeCa: storeCa === ca && gatewayCa ? gatewayCa : read('store CA bundle', storeCa) }
      : {}),
  };
}

/**
 * The credential when no token is set: a CI token or the stored login (client/auth/credential.ts),
 * whose module (and oauth4webapi) is loaded only when a command needs it.
 */
function storedOrCiCredential(io: Io, cfg: ClientConfig): () => Promise<string | null> {
  let resolver: Promise<() => Promise<string | null>> | null = null;
  return async () => {
    resolver ??= import('./auth/credential.ts').then((m) => m.lazyCredential(io.env, cfg));
    return (await resolver)();
  };
}

/** The default job platform from kiln.toml (`platform = "linux-aarch64"`), if any. */
export function defaultPlatform(io: Io): string | undefined {
  return loadClientConfig(io.cwd, io.env).platform;
}
