/** `kiln auth login`: sign in to the gateway's identity provider; the tokens are stored for later commands. */
import { spawn } from 'node:child_process';
import { browserLogin } from '../auth/browser-flow.ts';
import { deviceLogin } from '../auth/device-flow.ts';
import { provider } from '../auth/oauth.ts';
import { writeLogin } from '../auth/store.ts';
import { say, type Io } from '../command.ts';
import { loadClientConfig } from '../config.ts';
import { UserError } from '../errors.ts';

export async function handler(
  a: { flow: string; issuer?: string; clientId?: string; open: boolean },
  io: Io,
): Promise<number> {
  const cfg = loadClientConfig(io.cwd, io.env);
  const issuer = a.issuer ?? cfg.auth.issuer;
  const clientId = a.clientId ?? cfg.auth.clientId;
  if (issuer === undefined || clientId === undefined) {
    throw new UserError(
      'no identity provider configured: add `[auth] issuer = "https://…"` and `clientId = "…"` to kiln.toml ' +
        '(your farm admin has them), or pass --issuer and --client-id',
    );
  }
  const p = await provider(issuer, clientId);
  const how = {
    scope: cfg.auth.scope,
    resource: cfg.auth.resource,
    audience: cfg.auth.audience,
    tell: io.stderr,
    signal: io.signal,
  };
  const tokens =
    a.flow === 'browser'
      ? await browserLogin(p, { ...how, ...(a.open ? { open: openBrowser } : {}) })
      : await deviceLogin(p, how);
  const file = writeLogin(io.env, {
    gateway: cfg.gateway,
    issuer,
    clientId,
    scope: cfg.auth.scope,
    ...(cfg.auth.resource !== undefined ? { resource: cfg.auth.resource } : {}),
    ...(cfg.auth.audience !== undefined ? { audience: cfg.auth.audience } : {}),
    ...tokens,
  });
  say(io.stderr, `kiln: signed in to ${cfg.gateway} (tokens in ${file})`);
  return 0;
}

/** Best effort: the platform's URL opener; the URL is printed anyway. */
function openBrowser(url: string): void {
  const [cmd, args] =
    process.platform === 'win32'
      ? ['cmd', ['/c', 'start', '""', url]]
      : process.platform === 'darwin'
        ? ['open', [url]]
        : ['xdg-open', [url]];
  const child = spawn(cmd, args as string[], { stdio: 'ignore', detached: true });
  child.on('error', () => {});
  child.unref();
}
