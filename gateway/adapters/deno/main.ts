/**
 * Deno adapter: serves the gateway app with `Deno.serve`; with `listen.tls`, through Deno's
 * `node:https` (the Node adapter's server), because `Deno.serve` can neither ask for client
 * certificates nor change its certificate without a restart (docs/edge.md). No logic here.
 *
 * Configuration comes from the environment only (no file at the edge): `KILN_GATEWAY_CONFIG`
 * holds the whole config as JSON (optional), then each `KILN_A__B=value` sets `a.b` on top of
 * it (see wiring/load-config.ts). Prints `listening on http://HOST:PORT` to stderr once
 * listening (`https://` with TLS); on SIGTERM or SIGINT it stops accepting, lets requests in flight finish for up to
 * {@link GRACE_MS}, closes Redis and exits 0 (a second signal exits 1 at once).
 *
 *   deno run --allow-net=… --allow-env --allow-read=redis/scripts [--allow-sys=osRelease] \
 *     gateway/adapters/deno/main.ts      (permissions: docs/edge.md)
 */
import { gatewayConfigSchema, type GatewayConfig } from '../../config.ts';
import { wireGateway } from '../../../wiring/gateway.ts';
import { loadConfig } from '../../../wiring/load-config.ts';
import { serveGatewayNode } from '../node/serve.ts';

/** How long a shutdown waits for requests in flight (long-polls, log followers). */
const GRACE_MS = 3000;

const log = (m: string): void => console.error(m);
const env = Deno.env.toObject();
let cfg: GatewayConfig;
try {
  let base: Record<string, unknown>;
  try {
    base = JSON.parse(env.KILN_GATEWAY_CONFIG ?? '{}') as Record<string, unknown>;
  } catch (err) {
    throw new Error(`KILN_GATEWAY_CONFIG is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  cfg = loadConfig(gatewayConfigSchema, { base, env });
} catch (err) {
  log(`kiln gateway: ${(err as Error).message}`);
  Deno.exit(1);
}

/** A server that stops accepting, lets requests finish, and closes Redis. */
type Stoppable = { drain(): Promise<void>; close(): Promise<void> };

async function start(cfg: GatewayConfig): Promise<Stoppable> {
  if (cfg.listen.tls) {
    const https = await serveGatewayNode(cfg, log);
    log(`listening on ${https.url}`);
    return { drain: () => Promise.resolve(), close: () => https.close() };
  }
  const gw = await wireGateway(cfg, log);
  const server = Deno.serve(
    {
      hostname: cfg.listen.host,
      port: cfg.listen.port,
      onListen: ({ hostname, port }) =>
        log(`listening on http://${hostname.includes(':') ? `[${hostname}]` : hostname}:${port}`),
    },
    gw.app.fetch,
  );
  return { drain: () => server.shutdown(), close: () => gw.close() };
}

let served: Stoppable;
try {
  served = await start(cfg);
} catch (err) {
  log(`kiln gateway: ${(err as Error).message}`);
  Deno.exit(1);
}

let stopping = false;
const shutdown = async (): Promise<void> => {
  if (stopping) Deno.exit(1); // a second signal: do not wait
  stopping = true;
  await Promise.race([served.drain(), new Promise((r) => setTimeout(r, GRACE_MS))]);
  await Promise.race([served.close(), new Promise((r) => setTimeout(r, GRACE_MS))]);
  Deno.exit(0);
};
for (const sig of ['SIGTERM', 'SIGINT'] as const) Deno.addSignalListener(sig, () => void shutdown());
