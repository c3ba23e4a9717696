/** Issuing job tokens: HS256 with the key of the builder the job is placed on. */
import { KilnError } from '../protocol/errors.ts';
import type { GrantedJobSpec } from '../protocol/job.ts';
import { signJobToken } from '../protocol/token.ts';
import type { FarmState } from '../protocol/gateway-port.ts';

/** Slack added to a job's time limit for a token's lifetime, seconds. */
export const TOKEN_SLACK_SEC = 600;

/** Signs a token for job `jti` on builder `bid`, valid for the job's time limit plus slack. */
export async function issueJobToken(
  farm: FarmState,
  job: { id: string; spec: GrantedJobSpec; sub: string; tenant: string },
  bid: string,
): Promise<string> {
  const key = await farm.builderKey(bid);
  if (!key) throw new KilnError('ERR_UNAVAILABLE', `builder ${bid} has no key registered`, { retryAfter: 1 });
  const ttl = job.spec.limits.timeoutSec + job.spec.limits.graceSec + TOKEN_SLACK_SEC;
  return signJobToken(key, { jti: job.id, bid, sub: job.sub, tenant: job.tenant }, ttl);
}
