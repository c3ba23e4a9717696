/** Who a request is from, once a client auth method has accepted its credential. */

/** The authenticated client of a request. */
export interface Principal {
  /** Stable subject id (the JWT subject claim, or the configured token's `sub`). */
  sub: string;
  /** Tenant the client acts for: scopes jobs, toolchains and the action cache. */
  tenant: string;
  /** The auth method that accepted the credential. */
  method: 'jwt' | 'token' | 'proxy_token' | 'client_cert' | 'insecure';
  /** True when the client may administer the farm (publish presets, name shared cache scopes). */
  admin: boolean;
}

/** One configured client auth method. */
export interface AuthMethod {
  readonly type: Principal['method'];
  /**
   * Returns the principal when this method accepts `bearer`; null when the credential is not
   * one for this method (so the next method is tried); throws `KilnError('ERR_UNAUTHENTICATED')`
   * when it is one for this method but invalid. `bearer` is '' when no credential was sent.
   */
  authenticate(bearer: string, req?: Request): Promise<Principal | null>;
}
