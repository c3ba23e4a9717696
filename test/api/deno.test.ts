/** The HTTP API suite against the same gateway running under Deno (gateway/adapters/deno). */
import { denoGatewayLauncher } from '../helpers/deno-gateway.ts';
import { gatewayApiSuite } from './suite.ts';

gatewayApiSuite('Deno', denoGatewayLauncher());
