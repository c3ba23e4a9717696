/** kiln's version, reported by builders and the gateway. */
export const VERSION = '0.1.0';
