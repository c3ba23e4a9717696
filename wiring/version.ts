/** kiln's version, reported by builders and the gateway: the one in package.json. */
import pkg from '../package.json' with { type: 'json' };

export const VERSION: string = pkg.version;
