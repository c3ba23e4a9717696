/** The HTTP API suite against the gateway on Node. */
import { gatewayApiSuite } from './suite.ts';

gatewayApiSuite('Node');
