/**
 * The `client_cert` client auth method: the TLS client certificate the gateway verified against
 * `listen.tls.clientCa` names the principal (CN → sub, O → tenant, an admin OU → admin, by
 * default). No certificate: the next method is tried; a certificate that failed verification
 * (another CA, expired) is refused with the reason.
 */
import { unauthenticated } from './claims.ts';
import type { ClientCertMethodConfig } from './config.ts';
import { peerCertificate } from './peer.ts';
import type { AuthMethod } from './principal.ts';

const WHO = 'client certificate rejected';

export function createClientCertMethod(config: ClientCertMethodConfig): AuthMethod {
  return {
    type: 'client_cert',
    authenticate(_bearer, req) {
      const peer = req === undefined ? undefined : peerCertificate(req);
      if (peer === undefined) return Promise.resolve(null);
      if (!peer.authorized) {
        return Promise.reject(
          unauthenticated(
            WHO,
            `${peer.error ?? 'not verified'} (is it from the farm's client CA, and current?)`,
          ),
        );
      }
      const values = (name: string): string[] => {
        const v = peer.subject[name];
        return v === undefined ? [] : Array.isArray(v) ? v : [v];
      };
      const sub = values(config.subjectAttribute)[0];
      if (sub === undefined || sub === '') {
        return Promise.reject(unauthenticated(WHO, `its subject has no ${config.subjectAttribute}`));
      }
      const tenant = config.tenant ?? values(config.tenantAttribute)[0] ?? config.tenantDefault;
      if (tenant === undefined || tenant === '') {
        return Promise.reject(unauthenticated(WHO, `its subject has no ${config.tenantAttribute}`));
      }
      const admin = config.adminOU !== undefined && values('OU').includes(config.adminOU);
      return Promise.resolve({ sub, tenant, method: 'client_cert', admin });
    },
  };
}
