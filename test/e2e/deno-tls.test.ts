/**
 * Every hop on TLS with the gateway on Deno (gateway/adapters/deno/main.ts as a `deno run`
 * child, test/helpers/tls-farm.ts for the rest): HTTPS with client certificates through Deno's
 * node:https, Redis over rediss:// as the gateway's ACL user, the store over HTTPS with the
 * private CA. Refused with the reason: no client certificate, one of another CA, an expired one.
 * A renewed server certificate is served without a restart.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { connect } from 'node:tls';
import { join } from 'node:path';
import { kiln } from '../helpers/cli.ts';
import { denoGatewayLauncher } from '../helpers/deno-gateway.ts';
import { startTlsFarm, type TlsFarm } from '../helpers/tls-farm.ts';

describe('every hop on TLS (Deno gateway)', { timeout: 200_000 }, () => {
  let t: TlsFarm;
  let src: string;

  before(async () => {
    t = await startTlsFarm({ serveGateway: denoGatewayLauncher() });
    src = join(t.dir, 'src');
    await mkdir(src, { recursive: true });
    await writeFile(
      join(src, 'hello.c'),
      '#include <stdio.h>\nint main(void){puts("hello from deno");return 0;}\n',
    );
  });
  after(() => t?.stop());

  it('kiln run compiles on the farm through the Deno gateway and brings the program back', async () => {
    const r = await kiln(
      ['run', '--input', 'src', '--output', 'hello', '--', 'gcc', '-o', 'hello', 'hello.c'],
      {
        url: t.farm.url,
        cwd: t.dir,
        env: t.clientEnv(t.ca.issue('dana', '/CN=dana/O=dev')),
      },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(t.farm.url, /^https:/);
    assert.equal(execFileSync(join(src, 'hello'), { encoding: 'utf8' }), 'hello from deno\n');
  });

  it('no client certificate, one of another CA, or an expired one: refused with the reason', async () => {
    const run = (env: NodeJS.ProcessEnv) =>
      kiln(['farm', 'status'], {
        url: t.farm.url,
        cwd: t.dir,
        env: { ...t.clientEnv(t.ca.issue('y', '/CN=y/O=dev')), ...env },
      });
    const ok = await run({});
    assert.equal(ok.code, 0, ok.stderr);
    const none = await run({ KILN_TLS_CERT: '', KILN_TLS_KEY: '' });
    assert.equal(none.code, 1);
    assert.match(none.stderr, /missing credential: .*client certificate/);
    const stranger = t.pki.ca('deno-stranger-ca').issue('eve', '/CN=eve/O=dev');
    const foreign = await run({ KILN_TLS_CERT: stranger.cert, KILN_TLS_KEY: stranger.key });
    assert.equal(foreign.code, 1);
    assert.match(foreign.stderr, /client certificate rejected: UNABLE_TO_VERIFY_LEAF_SIGNATURE/);
    const old = t.ca.issue('deno-old', '/CN=old/O=dev', { days: -1 });
    const expired = await run({ KILN_TLS_CERT: old.cert, KILN_TLS_KEY: old.key });
    assert.equal(expired.code, 1);
    assert.match(expired.stderr, /client certificate rejected: CERT_HAS_EXPIRED/);
  });

  it('a renewed server certificate is served to new connections without a restart', async () => {
    const { port } = new URL(t.farm.url);
    const served = (): Promise<string> =>
      new Promise((resolve, reject) => {
        const s = connect({ host: '127.0.0.1', port: Number(port), ca: readFileSync(t.ca.cert) }, () => {
          resolve(s.getPeerCertificate().fingerprint256);
          s.end();
        });
        s.on('error', reject);
      });
    const before = await served();
    const renewed = t.ca.issue('gateway-renewed', '/CN=kiln gateway', { server: true });
    copyFileSync(renewed.key, t.gatewayCert.key);
    copyFileSync(renewed.cert, t.gatewayCert.cert);
    let now = before;
    while (now === before) now = await served(); // each attempt is a new handshake
    assert.notEqual(now, before);
  });
});
