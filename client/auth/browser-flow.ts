/**
 * OAuth 2.0 authorization code with PKCE and a loopback redirect (RFC 8252): the CLI listens on
 * 127.0.0.1 (a free port), sends the user's browser to the provider, and takes the code when the
 * browser comes back to `http://127.0.0.1:PORT/callback`.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Writable } from 'node:stream';
import * as oauth from 'oauth4webapi';
import { UserError } from '../errors.ts';
import { audienceParams, tokensOf, why, type Provider, type Tokens } from './oauth.ts';

export interface BrowserLogin {
  scope: string;
  resource?: string | undefined;
  audience?: string | undefined;
  tell: Writable;
  /** Opens the URL in the user's browser (not called with --no-open: the user opens it). */
  open?: (url: string) => void;
  signal: AbortSignal;
  /** Longest wait for the browser to come back. @default 300000 */
  timeoutMs?: number;
}

export async function browserLogin(p: Provider, o: BrowserLogin): Promise<Tokens> {
  if (p.as.authorization_endpoint === undefined) {
    throw new UserError(
      'the identity provider has no authorization endpoint: use `kiln auth login --flow device`',
    );
  }
  const verifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();
  const callback = await listen();
  try {
    const redirectUri = `http://127.0.0.1:${(callback.server.address() as AddressInfo).port}/callback`;
    const url = new URL(p.as.authorization_endpoint);
    const params: Record<string, string> = {
      client_id: p.client.client_id,
      redirect_uri: redirectUri,
      response_type: 'code',
      scope: o.scope,
      state,
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      ...audienceParams(o),
    };
    for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
    o.tell.write(`To sign in, open this URL in your browser:\n  ${url.href}\n`);
    o.open?.(url.href);
    const back = await callback.next(o.signal, o.timeoutMs ?? 300_000);
    let answer: URLSearchParams;
    try {
      answer = oauth.validateAuthResponse(p.as, p.client, back, state);
    } catch (err) {
      throw new UserError(`the sign-in failed: ${why(err)}`);
    }
    const sent = Date.now();
    try {
      const r = await oauth.processAuthorizationCodeResponse(
        p.as,
        p.client,
        await oauth.authorizationCodeGrantRequest(p.as, p.client, p.auth, answer, redirectUri, verifier, {
          ...p.options,
          additionalParameters: audienceParams(o),
        }),
      );
      return tokensOf(r, sent);
    } catch (err) {
      throw new UserError(`the identity provider refused the sign-in code: ${why(err)}`);
    }
  } finally {
    callback.server.closeAllConnections();
    callback.server.close();
  }
}

/** A loopback server whose `next` resolves with the first /callback URL the browser brings. */
async function listen(): Promise<{
  server: Server;
  next(signal: AbortSignal, timeoutMs: number): Promise<URL>;
}> {
  let deliver: ((url: URL) => void) | null = null;
  const arrived: URL[] = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (url.pathname !== '/callback') return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end('<!doctype html><title>kiln</title><p>kiln: signed in. You can close this window.</p>');
    if (deliver) deliver(url);
    else arrived.push(url);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    server,
    next(signal, timeoutMs) {
      const first = arrived.shift();
      if (first) return Promise.resolve(first);
      return new Promise((resolve, reject) => {
        const done = (): void => {
          clearTimeout(timer);
          signal.removeEventListener('abort', onAbort);
        };
        const timer = setTimeout(() => {
          done();
          reject(new UserError('the browser did not come back in time: run `kiln auth login` again'));
        }, timeoutMs);
        const onAbort = (): void => {
          done();
          reject(new UserError('login interrupted', 130));
        };
        signal.addEventListener('abort', onAbort, { once: true });
        deliver = (url) => {
          done();
          resolve(url);
        };
      });
    },
  };
}
