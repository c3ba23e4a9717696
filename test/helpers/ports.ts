/** Free TCP ports on 127.0.0.1 for servers that tests start. */
export { freePort } from '../../wiring/free-port.ts';
