/**
 * A private PKI for TLS tests, made with the real openssl CLI (the commands docs/identity.md
 * lists): a CA, certificates it signs (server ones for 127.0.0.1, client ones with a subject),
 * expired ones, and a second CA whose certificates the farm must not trust.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Issued {
  cert: string;
  key: string;
}

export interface Ca extends Issued {
  /** Issues a certificate for `subject` (e.g. "/CN=alice/O=acme/OU=kiln-admins"). */
  issue(name: string, subject: string, opts?: { server?: boolean; days?: number }): Issued;
  /** Writes a CRL (PEM) revoking these certificates of this CA (`openssl ca -revoke`, `-gencrl`). */
  crl(file: string, revoked: Issued[]): void;
}

export interface Pki {
  dir: string;
  ca(name: string): Ca;
  remove(): void;
}

const openssl = (dir: string, args: string[]): void =>
  void execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });

export function makePki(): Pki {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-pki-'));
  return {
    dir,
    remove: () => rmSync(dir, { recursive: true, force: true }),
    ca(name) {
      const ca = { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
      openssl(dir, [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-keyout',
        ca.key,
        '-out',
        ca.cert,
        '-days',
        '2',
        '-subj',
        `/CN=${name}`,
      ]);
      const db = join(dir, `${name}-index.txt`);
      const cnf = join(dir, `${name}-ca.cnf`);
      return {
        ...ca,
        crl(file, revoked) {
          writeFileSync(db, '');
          writeFileSync(join(dir, `${name}-crlnumber`), '01\n');
          writeFileSync(
            cnf,
            `[ca]\ndefault_ca = d\n[d]\ndatabase = ${db}\ncrlnumber = ${join(dir, `${name}-crlnumber`)}\n` +
              'default_md = sha256\ndefault_crl_days = 1\n',
          );
          const signer = ['-config', cnf, '-keyfile', ca.key, '-cert', ca.cert];
          for (const r of revoked) openssl(dir, ['ca', ...signer, '-revoke', r.cert]);
          openssl(dir, ['ca', ...signer, '-gencrl', '-out', file]);
        },
        issue(leaf, subject, opts = {}) {
          const out = { cert: join(dir, `${leaf}.crt`), key: join(dir, `${leaf}.key`) };
          const csr = join(dir, `${leaf}.csr`);
          const ext = join(dir, `${leaf}.ext`);
          writeFileSync(
            ext,
            opts.server
              ? 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n'
              : 'extendedKeyUsage=clientAuth\n',
          );
          openssl(dir, [
            'req',
            '-newkey',
            'ec',
            '-pkeyopt',
            'ec_paramgen_curve:P-256',
            '-nodes',
            '-keyout',
            out.key,
            '-out',
            csr,
            '-subj',
            subject,
          ]);
          openssl(dir, [
            'x509',
            '-req',
            '-in',
            csr,
            '-CA',
            ca.cert,
            '-CAkey',
            ca.key,
            '-CAcreateserial',
            '-out',
            out.cert,
            '-days',
            String(opts.days ?? 1),
            '-extfile',
            ext,
          ]);
          return out;
        },
      };
    },
  };
}
