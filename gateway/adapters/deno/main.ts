/**
 * Deno adapter: serves the gateway app with `Deno.serve`. No logic here.
 *
 * Configuration comes from the environment only (no file at the edge): `KILN_GATEWAY_CONFIG`
 * holds the whole config as JSON (optional), then each `KILN_A__B=value` sets `a.b` on top of
 * it (see wiring/load-config.ts). Prints `listening on http://HOST:PORT` to stderr once
 * listening; on SIGTERM or SIGINT it stops accepting, lets requests in flight finish for up to
 * {@link GRACE_MS}, closes Redis and exits 0 (a second signal exits 1 at once).
 *
 *   deno run --allow-net=… --allow-env --allow-read=redis/scripts [--allow-sys=osRelease] \
 *     gateway/adapters/deno/main.ts      (permissions: docs/edge.md)
 */
import { gatewayConfigSchema } from '../../config.ts';
import { wireGateway } from '../../../wiring/gateway.ts';
import { loadConfig } from '../../../wiring/load-config.ts';

/** How long a shutdown waits for requests in flight (long-polls, log followers). */
const GRACE_MS = 3000;

const log = (m: string): void => console.error(m);
const env = Deno.env.toObject();
let cfg, gw;
try {
  let base: Record<string, unknown>;
  try {
    base = JSON.parse(env.KILN_GATEWAY_CONFIG ?? '{}') as Record<string, unknown>;
  } catch (err) {
    throw new Error(`KILN_GATEWAY_CONFIG is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  cfg = loadConfig(gatewayConfigSchema, { base, env });
  if (cfg.listen.tls) {
    // Deno.serve cannot ask for client certificates: refuse rather than serve plain HTTP.
    throw new Error(
      'listen.tls (HTTPS with client certificates) is served by the Node adapter only; on Deno, terminate TLS in front of the gateway',
    );
  }
  gw = await wireGateway(cfg, log);
} catch (err) {
  log(`kiln gateway: ${(err as Error).message}`);
  Deno.exit(1);
}
const server = Deno.serve(
  {
    hostname: cfg.listen.host,
    port: cfg.listen.port,
    onListen: ({ hostname, port }) =>
      log(`listening on http://${hostname.includes(':') ? `[${hostname}]` : hostname}:${port}`),
  },
  gw.app.fetch,
);

let stopping = false;
const shutdown = async (): Promise<void> => {
  if (stopping) Deno.exit(1); // a second signal: do not wait
  stopping = true;
  await Promise.race([server.shutdown(), new Promise((r) => setTimeout(r, GRACE_MS))]);
  await gw.close();
  Deno.exit(0);
};
for (const sig of ['SIGTERM', 'SIGINT'] as const) Deno.addSignalListener(sig, () => void shutdown());
