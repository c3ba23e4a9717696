/**
 * A real redis-server that speaks TLS only and asks every client for a certificate of the test
 * CA (`--port 0 --tls-port … --tls-auth-clients yes`), with the ACL file `kiln redis acl`
 * printed (run in-process, passwords from the environment), for the transport-trust tests.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import { connectRedis } from '../../redis/connect.ts';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { startLocalRedis, type LocalRedis } from '../../wiring/redis-server.ts';
import { freePort } from '../../wiring/free-port.ts';
import { handler as redisAcl, passwordVariable } from '../../client/commands/redis-acl.ts';
import type { Ca, Issued } from './pki.ts';

export interface TlsRedis {
  server: LocalRedis;
  /** The TLS port. */
  port: number;
  /** `rediss://127.0.0.1:<tls port>` */
  url: string;
  /** The ACL file the server loaded. */
  aclFile: string;
  /** Each user's password. */
  passwords: Map<string, string>;
  /** A client certificate of the CA, one per user name (made on first use). */
  certOf(user: string): Issued;
  stop(): Promise<void>;
}

function sink(into: { text: string }): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      into.text += chunk.toString();
      cb();
    },
  });
}

/** Generates the ACL with `kiln redis acl` (in-process) and starts the server with it. */
export async function startTlsRedis(opts: {
  ca: Ca;
  dir: string;
  prefix: string;
  builders: string[];
}): Promise<TlsRedis> {
  const passwords = new Map<string, string>();
  const env: NodeJS.ProcessEnv = {};
  const users = [
    'kiln-gateway',
    'kiln-admin',
    ...opts.builders.map((b) =>
      b.split('@')[0] === '*' ? 'kiln-builder' : `kiln-builder-${b.split('@')[0]}`,
    ),
  ];
  for (const u of users) {
    const pw = randomBytes(16).toString('hex');
    passwords.set(u, pw);
    env[passwordVariable(u)] = pw;
  }
  const out = { text: '' };
  const err = { text: '' };
  const code = await redisAcl(
    { prefix: opts.prefix, builder: opts.builders, admin: true },
    { stdout: sink(out), stderr: sink(err), env, cwd: opts.dir, signal: new AbortController().signal },
  );
  if (code !== 0) throw new Error(`kiln redis acl failed: ${err.text}`);
  const aclFile = join(opts.dir, `users-${randomBytes(4).toString('hex')}.acl`);
  writeFileSync(aclFile, out.text);
  const tlsPort = await freePort();
  const serverCert = opts.ca.issue(`redis-${tlsPort}`, '/CN=kiln redis', { server: true });
  const server = await startLocalRedis({
    extraArgs: [
      '--port',
      '0',
      '--tls-port',
      String(tlsPort),
      '--tls-cert-file',
      serverCert.cert,
      '--tls-key-file',
      serverCert.key,
      '--tls-ca-cert-file',
      opts.ca.cert,
      '--tls-auth-clients',
      'yes',
      '--tls-protocols',
      'TLSv1.3',
      '--aclfile',
      aclFile,
    ],
  });
  const certs = new Map<string, Issued>();
  return {
    server,
    port: tlsPort,
    url: `rediss://127.0.0.1:${tlsPort}`,
    aclFile,
    passwords,
    certOf(user) {
      let c = certs.get(user);
      if (!c) {
        c = opts.ca.issue(`${user}-${tlsPort}`, `/CN=${user}/O=kiln`);
        certs.set(user, c);
      }
      return c;
    },
    stop: () => server.stop(),
  };
}

/** A connection as `user` over TLS, with that user's client certificate unless `cert` says otherwise. */
export async function connectAs(
  tr: TlsRedis,
  ca: Ca,
  user: string,
  opts: { cert?: Issued | null; name?: string } = {},
): Promise<Redis> {
  const cert = opts.cert === undefined ? tr.certOf(user) : opts.cert;
  return connectRedis({
    url: tr.url,
    name: opts.name ?? user,
    username: user,
    password: tr.passwords.get(user) ?? 'unknown',
    connectTimeoutMs: 3000,
    tls: {
      ca: readFileSync(ca.cert),
      ...(cert ? { cert: readFileSync(cert.cert), key: readFileSync(cert.key) } : {}),
    },
  });
}
