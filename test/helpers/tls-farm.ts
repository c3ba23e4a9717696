/**
 * A whole farm with every hop on TLS, for the transport-trust end-to-end tests: a private CA
 * (openssl); redis-server on TLS only, asking for client certificates, with the ACL file of
 * `kiln redis acl` (the gateway and each builder connect as their own user, with their own
 * certificate, the password from a file); s3rver on HTTPS with a certificate of the CA; the
 * gateway on HTTPS asking for client certificates (client_cert auth); bwrap builders as processes.
 */
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDevFarm, type DevFarm, type GatewayLauncher } from '../../wiring/dev-farm.ts';
import { makePki, type Ca, type Issued, type Pki } from './pki.ts';
import { startS3rver, s3Storage, type S3rverHandle } from './s3rver.ts';
import { startTlsRedis, type TlsRedis } from './tls-redis.ts';

export interface TlsFarm {
  farm: DevFarm;
  pki: Pki;
  ca: Ca;
  redis: TlsRedis;
  s3: S3rverHandle;
  dir: string;
  /** The gateway's certificate files (overwrite them to renew it: the gateway reloads them). */
  gatewayCert: Issued;
  /** `[redis]` of a role: URL, its user and password file, its client certificate. */
  redisConfig(user: string): Record<string, unknown>;
  /** The kiln environment of a client holding `cert`: the farm's CA, its certificate, no token. */
  clientEnv(cert: Issued): NodeJS.ProcessEnv;
  stop(): Promise<void>;
}

/** Starts it all; `serveGateway` runs the gateway elsewhere (the Deno adapter). */
export async function startTlsFarm(opts: { serveGateway?: GatewayLauncher } = {}): Promise<TlsFarm> {
  const pki = makePki();
  const dir = mkdtempSync(join(tmpdir(), 'kiln-tlsfarm-'));
  const stops: (() => Promise<void>)[] = [];
  const stop = async (): Promise<void> => {
    for (const s of stops.reverse()) await s().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
    pki.remove();
  };
  try {
    const ca = pki.ca('kiln-farm-ca');
    const redis = await startTlsRedis({ ca, dir, prefix: 'kiln', builders: ['dev0@linux-x86_64'] });
    stops.push(() => redis.stop());
    const s3 = await startS3rver({ tls: ca.issue('store', '/CN=kiln store', { server: true }) });
    stops.push(() => s3.stop());
    const issued = ca.issue('gateway', '/CN=kiln gateway', { server: true });
    const gatewayCert = { cert: join(dir, 'gateway.crt'), key: join(dir, 'gateway.key') };
    copyFileSync(issued.cert, gatewayCert.cert);
    copyFileSync(issued.key, gatewayCert.key);
    /** `[redis]` of one role: TLS files of its own certificate, its user, its password file. */
    const redisOf = (user: string): Record<string, unknown> => {
      const cert = redis.certOf(user);
      const passwordFile = join(dir, `${user}.password`);
      writeFileSync(passwordFile, `${redis.passwords.get(user)}\n`, { mode: 0o600 });
      return {
        url: redis.url,
        prefix: 'kiln',
        username: user,
        passwordFile,
        tls: { ca: ca.cert, cert: cert.cert, key: cert.key },
      };
    };
    const farm = await startDevFarm({
      builders: 1,
      slots: 2,
      port: 0,
      s3: { ...s3Storage(s3), ca: ca.cert },
      redis: {
        server: redis.server,
        url: redis.url,
        gateway: redisOf('kiln-gateway'),
        builder: (name) => redisOf(`kiln-builder-${name}`),
      },
      listenTls: { cert: gatewayCert.cert, key: gatewayCert.key, clientCa: ca.cert, reloadCheckMs: 200 },
      authMethods: [{ type: 'client_cert', adminOU: 'kiln-admins' }],
      ...(opts.serveGateway ? { serveGateway: opts.serveGateway } : {}),
    });
    stops.push(() => farm.stop());
    return {
      farm,
      pki,
      ca,
      redis,
      s3,
      dir,
      gatewayCert,
      redisConfig: redisOf,
      clientEnv: (cert) => ({
        KILN_TLS_CA: ca.cert,
        KILN_TLS_CERT: cert.cert,
        KILN_TLS_KEY: cert.key,
        KILN_CONFIG_DIR: join(dir, 'client-config'),
        KILN_RETRY_SEC: '0',
      }),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
