/** How long things stay in Redis. */

/** How long a finished job (its hash and its log) stays readable. @default 86400 */
export const FINISHED_TTL_SEC = 86_400;

/** How long a builder's token key outlives its last heartbeat, so tokens it signed still verify. @default 2 days */
export const BUILDER_KEY_TTL_SEC = 2 * 86_400;
