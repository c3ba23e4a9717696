/**
 * `kiln auth` against a REAL OpenID provider (oidc-provider on 127.0.0.1) and a real gateway
 * (Node adapter, redis-server): the device flow and authorization code + PKCE, with the test
 * playing the user's browser over HTTP; tokens stored 0600 per gateway, refreshed with the
 * refresh token, printed by `kiln auth token`, removed by `kiln auth logout`; and in CI, client
 * credentials and GitHub Actions OIDC (a loopback ACTIONS_ID_TOKEN_REQUEST_URL server) picked
 * automatically and accepted by the gateway.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { COMMANDS } from '../../client/commands/index.ts';
import { main } from '../../client/main.ts';
import { loginFile } from '../../client/auth/store.ts';
import { serveGatewayNode } from '../../gateway/adapters/node/serve.ts';
import { gatewayConfigSchema } from '../../gateway/config.ts';
import { startLocalRedis, type LocalRedis } from '../../wiring/redis-server.ts';
import { Browser } from '../helpers/browser.ts';
import { startJwksServer, type JwksServer } from '../helpers/jwks.ts';
import { AUDIENCE, CONFIDENTIAL, startOidc, type Oidc } from '../helpers/oidc.ts';
import { freePort } from '../helpers/ports.ts';

let oidc: Oidc;
let github: JwksServer;
let redis: LocalRedis;
let gateway: { url: string; close(): Promise<void> };
let dir: string;
let actions: Server;
let actionsUrl: string;
const ACTIONS_REQUEST_TOKEN = 'actions-request-token-' + randomBytes(8).toString('hex');
const askedAudiences: string[] = [];

before(async () => {
  [oidc, github, redis] = await Promise.all([startOidc(), startJwksServer(), startLocalRedis()]);
  dir = mkdtempSync(join(tmpdir(), 'kiln-auth-cli-'));
  const cfg = gatewayConfigSchema.parse({
    listen: { host: '127.0.0.1', port: 0 },
    redis: { url: redis.url, prefix: `auth-cli-${randomBytes(4).toString('hex')}` },
    storage: { type: 'local', dir: join(dir, 'store') },
    auth: {
      methods: [
        {
          type: 'jwt',
          issuer: oidc.issuer,
          audience: AUDIENCE,
          tenantClaim: 'kiln_tenant',
          tenantDefault: 'devs',
        },
        {
          type: 'jwt',
          issuer: github.issuer,
          audience: 'PLACEHOLDER',
          tenant: 'acme-ci',
          claims: { repository_owner: 'acme' },
        },
      ],
    },
  });
  // The GitHub method expects the gateway's own URL as audience, known once it listens.
  const port = await freePort();
  cfg.listen.port = port;
  const gwUrl = `http://127.0.0.1:${port}`;
  (cfg.auth.methods[1] as { audience: string }).audience = gwUrl;
  gateway = await serveGatewayNode(cfg, () => {});

  // GitHub's token service for a job of acme/app on main: checks the request token, signs the audience asked for.
  actions = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (req.headers.authorization !== `Bearer ${ACTIONS_REQUEST_TOKEN}`) return void res.writeHead(401).end();
    const audience = url.searchParams.get('audience') ?? 'https://github.com/acme';
    askedAudiences.push(audience);
    void github
      .sign(
        {
          sub: 'repo:acme/app:ref:refs/heads/main',
          repository: 'acme/app',
          repository_owner: 'acme',
          ref: 'refs/heads/main',
        },
        { aud: audience, typ: 'JWT' },
      )
      .then((value) =>
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ count: 1, value })),
      );
  });
  const aport = await freePort();
  await new Promise<void>((resolve) => actions.listen(aport, '127.0.0.1', resolve));
  actionsUrl = `http://127.0.0.1:${aport}/_apis/token?api-version=2.0`;
});
after(async () => {
  await gateway?.close();
  actions?.closeAllConnections();
  await new Promise((r) => actions?.close(r));
  await Promise.all([oidc?.stop(), github?.stop(), redis?.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

/** Captures a stream and lets a test wait for a line matching a pattern. */
class Watch extends Writable {
  text = '';
  private waiters: { re: RegExp; resolve: (m: RegExpMatchArray) => void }[] = [];
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.text += chunk.toString();
    this.waiters = this.waiters.filter((w) => {
      const m = this.text.match(w.re);
      if (m) w.resolve(m);
      return !m;
    });
    cb();
  }
  when(re: RegExp): Promise<RegExpMatchArray> {
    const m = this.text.match(re);
    return m ? Promise.resolve(m) : new Promise((resolve) => this.waiters.push({ re, resolve }));
  }
}

/** `kiln <args>` in-process; the environment holds only what is given (no KILN_TOKEN). */
function kiln(
  args: string[],
  env: NodeJS.ProcessEnv,
): { stdout: Watch; stderr: Watch; done: Promise<number> } {
  const stdout = new Watch();
  const stderr = new Watch();
  const done = main(
    args,
    {
      stdout,
      stderr,
      cwd: dir,
      env: { PATH: process.env.PATH, HOME: dir, KILN_GATEWAY: gateway.url, ...env },
      signal: new AbortController().signal,
    },
    COMMANDS,
  );
  return { stdout, stderr, done };
}

async function run(
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const r = kiln(args, env);
  const code = await r.done;
  return { code, stdout: r.stdout.text, stderr: r.stderr.text };
}

describe('kiln auth with a real identity provider', () => {
  const userEnv = (): NodeJS.ProcessEnv => ({
    KILN_CONFIG_DIR: join(dir, 'user-config'),
    KILN_AUTH_ISSUER: oidc.issuer,
    KILN_AUTH_CLIENT_ID: 'kiln-cli',
    KILN_AUTH_SCOPE: 'openid offline_access build',
    KILN_AUTH_RESOURCE: AUDIENCE,
  });

  it('device flow: the user confirms the code in a browser; the tokens are stored 0600 and work', async () => {
    const env = userEnv();
    const login = kiln(['auth', 'login'], env);
    const [, , , complete] = await login.stderr.when(
      /open (\S+) and enter the code (\S+)\n {2}\(or open (\S+)\)/,
    );
    const browser = new Browser();
    const done = await browser.signIn(await browser.visit(complete!), 'alice');
    assert.equal(done.status, 200, done.html.slice(0, 300));
    assert.equal(await login.done, 0, login.stderr.text);
    assert.match(login.stderr.text, /signed in to http:\/\/127\.0\.0\.1:\d+/);

    const file = loginFile(env, gateway.url);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(statSync(join(file, '..')).mode & 0o777, 0o700);
    const stored = JSON.parse(readFileSync(file, 'utf8')) as { accessToken: string; refreshToken?: string };
    assert.ok(stored.refreshToken, 'a refresh token was issued (offline_access)');

    const token = await run(['auth', 'token'], env);
    assert.equal(token.code, 0, token.stderr);
    assert.equal(token.stdout.trim(), stored.accessToken);
    const status = await run(['farm', 'status', '--json'], env);
    assert.equal(status.code, 0, status.stderr);
    assert.deepEqual((JSON.parse(status.stdout) as { builders: unknown[] }).builders, []);
  });

  it('an expiring login is refreshed with the refresh token and stored again', async () => {
    const env = userEnv();
    const file = loginFile(env, gateway.url);
    const before = JSON.parse(readFileSync(file, 'utf8')) as {
      accessToken: string;
      refreshToken: string;
      expiresAt: number;
    };
    writeFileSync(file, JSON.stringify({ ...before, expiresAt: Date.now() - 1000 }), { mode: 0o600 });
    const token = await run(['auth', 'token'], env);
    assert.equal(token.code, 0, token.stderr);
    const after = JSON.parse(readFileSync(file, 'utf8')) as typeof before;
    assert.notEqual(after.accessToken, before.accessToken, 'a new access token');
    assert.notEqual(after.refreshToken, before.refreshToken, 'the provider rotated the refresh token');
    assert.ok(after.expiresAt > Date.now());
    assert.equal(token.stdout.trim(), after.accessToken);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal((await run(['farm', 'status'], env)).code, 0);
  });

  it('logout forgets the login; then commands say how to sign in', async () => {
    const env = userEnv();
    const out = await run(['auth', 'logout'], env);
    assert.equal(out.code, 0);
    assert.match(out.stderr, /signed out/);
    const token = await run(['auth', 'token'], env);
    assert.equal(token.code, 1);
    assert.match(token.stderr, /no credential for .*: run `kiln auth login`/);
    const status = await run(['farm', 'status'], env);
    assert.equal(status.code, 1);
    assert.match(status.stderr, /missing credential.*kiln auth login/);
  });

  it('authorization code + PKCE with a loopback redirect', async () => {
    const env = { ...userEnv(), KILN_CONFIG_DIR: join(dir, 'pkce-config') };
    const login = kiln(['auth', 'login', '--flow', 'browser', '--no-open'], env);
    const [, url] = await login.stderr.when(/open this URL in your browser:\n {2}(\S+)\n/);
    assert.match(url!, /code_challenge_method=S256/);
    const browser = new Browser();
    const back = await browser.signIn(await browser.visit(url!), 'bob');
    assert.match(back.url, /^http:\/\/127\.0\.0\.1:\d+\/callback\?code=/);
    assert.match(back.html, /signed in/);
    assert.equal(await login.done, 0, login.stderr.text);
    const status = await run(['farm', 'status'], env);
    assert.equal(status.code, 0, status.stderr);
  });

  it('a login without an identity provider configured says what to add', async () => {
    const out = await run(['auth', 'login'], { KILN_CONFIG_DIR: join(dir, 'none') });
    assert.equal(out.code, 1);
    assert.match(out.stderr, /no identity provider configured: add `\[auth\] issuer/);
  });
});

describe('kiln in CI', () => {
  it('GitHub Actions OIDC is picked when its variables are set, with the gateway URL as audience', async () => {
    const env = {
      ACTIONS_ID_TOKEN_REQUEST_URL: actionsUrl,
      ACTIONS_ID_TOKEN_REQUEST_TOKEN: ACTIONS_REQUEST_TOKEN,
    };
    const token = await run(['auth', 'token', '--source'], env);
    assert.equal(token.code, 0, token.stderr);
    assert.match(token.stderr, /credential from github-actions/);
    assert.equal(askedAudiences.at(-1), gateway.url);
    const status = await run(['farm', 'status'], env);
    assert.equal(status.code, 0, status.stderr);
  });

  it('a bad request token from the runner is a clear error', async () => {
    const env = { ACTIONS_ID_TOKEN_REQUEST_URL: actionsUrl, ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'wrong' };
    const out = await run(['farm', 'status'], env);
    assert.equal(out.code, 1);
    assert.match(out.stderr, /GitHub Actions token service answered HTTP 401.*id-token: write/);
  });

  it('client credentials from the environment', async () => {
    const env = {
      KILN_CLIENT_ID: CONFIDENTIAL[0]!.client_id,
      KILN_CLIENT_SECRET: CONFIDENTIAL[0]!.client_secret,
      KILN_AUTH_ISSUER: oidc.issuer,
      KILN_AUTH_SCOPE: 'build',
      KILN_AUTH_RESOURCE: AUDIENCE,
    };
    const token = await run(['auth', 'token', '--source'], env);
    assert.equal(token.code, 0, token.stderr);
    assert.match(token.stderr, /credential from client-credentials/);
    const status = await run(['farm', 'status'], env);
    assert.equal(status.code, 0, status.stderr);
    const bad = await run(['farm', 'status'], { ...env, KILN_CLIENT_SECRET: 'not-the-secret' });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /refused the client credentials in KILN_CLIENT_ID: invalid_client/);
  });
});
