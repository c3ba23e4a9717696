/** `kiln gateway [--config gateway.toml]` — serve the gateway on Node. */
import { gatewayConfigSchema } from '../../gateway/config.ts';
import { serveGatewayNode } from '../../gateway/adapters/node/serve.ts';
import { loadConfig } from '../../wiring/load-config.ts';
import type { Command } from '../command.ts';
import { logger, untilStopped } from './daemon.ts';

export const gateway: Command<{ config?: string }> = {
  command: 'gateway',
  describe: 'run the HTTP gateway (config: gateway.toml and KILN_A__B environment overrides)',
  options: { config: { type: 'string', alias: 'c', describe: 'path of gateway.toml' } },
  async handler(a, io) {
    const cfg = loadConfig(gatewayConfigSchema, { ...(a.config ? { file: a.config } : {}), env: io.env });
    const log = logger(io, 'gateway');
    const gw = await serveGatewayNode(cfg, log);
    log(`listening on ${gw.url}`);
    await untilStopped(io);
    await gw.close();
    return 0;
  },
};
