/** Node adapter: serves the gateway app with @hono/node-server, over HTTP or HTTPS. No logic here. */
import { serve } from '@hono/node-server';
import type { Http2Bindings, HttpBindings } from '@hono/node-server';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { GatewayConfig } from '../../config.ts';
import { wireGateway, type WireOptions } from '../../../wiring/gateway.ts';
import { answerClientErrors } from './client-errors.ts';
import { capConnections } from './connection-cap.ts';
import { httpsServerOptions, tagPeer, watchTlsFiles } from './tls.ts';

export async function serveGatewayNode(
  cfg: GatewayConfig,
  log: (m: string) => void,
  opts: WireOptions = {},
): Promise<{ url: string; close(): Promise<void> }> {
  const gw = await wireGateway(cfg, log, opts);
  const tls = cfg.listen.tls;
  const fetch = (req: Request, env: HttpBindings | Http2Bindings): Response | Promise<Response> => {
    tagPeer(req, env.incoming);
    return gw.app.fetch(req, env);
  };
  const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const s = serve(
      {
        fetch,
        hostname: cfg.listen.host,
        port: cfg.listen.port,
        ...(tls ? { createServer: createHttpsServer } : {}),
        serverOptions: {
          ...(tls ? httpsServerOptions(tls) : {}),
          requestTimeout: cfg.limits.requestTimeoutMs,
          headersTimeout: Math.min(cfg.limits.requestTimeoutMs, 30_000),
          keepAliveTimeout: cfg.limits.idleTimeoutMs,
          connectionsCheckingInterval: 1000,
        },
      },
      () => resolve(s),
    );
  });
  answerClientErrors(server);
  capConnections(server, cfg.limits.maxConnectionsPerClient);
  const unwatch = tls
    ? watchTlsFiles(tls, (o) => (server as HttpsServer).setSecureContext(o), log)
    : () => {};
  const { port } = server.address() as AddressInfo;
  const host = cfg.listen.host.includes(':') ? `[${cfg.listen.host}]` : cfg.listen.host;
  return {
    url: `${tls ? 'https' : 'http'}://${host}:${port}`,
    async close() {
      unwatch();
      const closed = new Promise<void>((r) => server.close(() => r()));
      if ('closeAllConnections' in server) server.closeAllConnections();
      await closed;
      await gw.close();
    },
  };
}
