/** Node adapter: serves the gateway app with @hono/node-server. No logic here. */
import { serve } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import type { GatewayConfig } from '../../config.ts';
import { wireGateway } from '../../../wiring/gateway.ts';
import { answerClientErrors } from './client-errors.ts';
import { capConnections } from './connection-cap.ts';

export async function serveGatewayNode(
  cfg: GatewayConfig,
  log: (m: string) => void,
): Promise<{ url: string; close(): Promise<void> }> {
  const gw = await wireGateway(cfg, log);
  const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const s = serve(
      {
        fetch: gw.app.fetch,
        hostname: cfg.listen.host,
        port: cfg.listen.port,
        serverOptions: {
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
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${cfg.listen.host.includes(':') ? `[${cfg.listen.host}]` : cfg.listen.host}:${port}`,
    async close() {
      const closed = new Promise<void>((r) => server.close(() => r()));
      if ('closeAllConnections' in server) server.closeAllConnections();
      await closed;
      await gw.close();
    },
  };
}
