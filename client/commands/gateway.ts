/** `kiln gateway [--config gateway.toml]` — serve the gateway on Node. */
import { gatewayConfigSchema } from '../../gateway/config.ts';
import { serveGatewayNode } from '../../gateway/adapters/node/serve.ts';
import { loadConfig } from '../../wiring/load-config.ts';
import type { Io } from '../command.ts';
import { logger, untilStopped } from './daemon.ts';

export async function handler(a: { config?: string }, io: Io): Promise<number> {
  const cfg = loadConfig(gatewayConfigSchema, { ...(a.config ? { file: a.config } : {}), env: io.env });
  const log = logger(io, 'gateway');
  // KILN_FAULT_POINT: fault-injection tests only (the gateway hangs there so it can be killed).
  const faultPoint = io.env.KILN_FAULT_POINT;
  const gw = await serveGatewayNode(cfg, log, faultPoint ? { faultPoint } : {});
  log(`listening on ${gw.url}`);
  await untilStopped(io);
  await gw.close();
  return 0;
}
