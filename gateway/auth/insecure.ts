/** The `insecure` client auth method: DEVELOPMENT ONLY, accepts every request as one principal. */
import type { InsecureMethodConfig } from './config.ts';
import type { AuthMethod } from './principal.ts';

/** Builds an `insecure` method: any credential, or none, becomes the configured principal. */
export function createInsecureMethod(config: InsecureMethodConfig): AuthMethod {
  return {
    type: 'insecure',
    authenticate: () =>
      Promise.resolve({ sub: config.sub, tenant: config.tenant, method: 'insecure', admin: config.admin }),
  };
}
