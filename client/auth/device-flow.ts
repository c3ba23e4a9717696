/**
 * OAuth 2.0 Device Authorization Grant (RFC 8628): the user opens a URL on any device and enters
 * a code; the CLI polls the token endpoint until the provider says yes (or no, or time runs out).
 */
import * as oauth from 'oauth4webapi';
import type { Writable } from 'node:stream';
import { UserError } from '../errors.ts';
import { audienceParams, tokensOf, why, type Provider, type Tokens } from './oauth.ts';

export interface DeviceLogin {
  scope: string;
  resource?: string | undefined;
  audience?: string | undefined;
  /** Where the user is told what to do. */
  tell: Writable;
  signal: AbortSignal;
}

export async function deviceLogin(p: Provider, o: DeviceLogin): Promise<Tokens> {
  const params = { scope: o.scope, ...audienceParams(o) };
  let start: oauth.DeviceAuthorizationResponse;
  try {
    start = await oauth.processDeviceAuthorizationResponse(
      p.as,
      p.client,
      await oauth.deviceAuthorizationRequest(p.as, p.client, p.auth, params, p.options),
    );
  } catch (err) {
    throw new UserError(`the identity provider refused to start a device login: ${why(err)}`);
  }
  o.tell.write(
    `To sign in, open ${start.verification_uri} and enter the code ${start.user_code}\n` +
      (start.verification_uri_complete ? `  (or open ${start.verification_uri_complete})\n` : ''),
  );
  let interval = (start.interval ?? 5) * 1000;
  const deadline = Date.now() + start.expires_in * 1000;
  for (;;) {
    await pause(interval, o.signal);
    const sent = Date.now();
    try {
      const r = await oauth.processDeviceCodeResponse(
        p.as,
        p.client,
        await oauth.deviceCodeGrantRequest(p.as, p.client, p.auth, start.device_code, {
          ...p.options,
          additionalParameters: audienceParams(o),
        }),
      );
      return tokensOf(r, sent);
    } catch (err) {
      const code = err instanceof oauth.ResponseBodyError ? err.error : '';
      if (code === 'authorization_pending' && Date.now() < deadline) continue;
      if (code === 'slow_down') {
        interval += 5000;
        continue;
      }
      if (code === 'expired_token' || code === 'authorization_pending') {
        throw new UserError('the sign-in code expired before it was used: run `kiln auth login` again');
      }
      if (code === 'access_denied') throw new UserError('the sign-in was declined in the browser');
      throw new UserError(`the device login failed: ${why(err)}`);
    }
  }
}

/** Waits `ms` (the provider's polling interval), or throws when the user presses Ctrl-C. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new UserError('login interrupted', 130));
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(new UserError('login interrupted', 130));
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
