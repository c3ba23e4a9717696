/**
 * Job-scoped access: the job's own token (verified with the key of the builder it names) or a
 * client credential of the job's tenant. Someone else's job is 404, as if it did not exist.
 */
import { decodeProtectedHeader } from 'jose';
import { KilnError } from '../protocol/errors.ts';
import { JOB_TOKEN_TYP, peekJobToken, verifyJobToken } from '../protocol/token.ts';
import type { GatewayDeps } from './context.ts';
import type { JobRecord } from '../protocol/farm.ts';

function bearer(req: Request): string | null {
  const h = req.headers.get('authorization');
  const m = h ? /^Bearer\s+(\S+)\s*$/i.exec(h) : null;
  return m ? m[1]! : null;
}

function isJobToken(token: string): boolean {
  try {
    return decodeProtectedHeader(token).typ === JOB_TOKEN_TYP;
  } catch {
    return false;
  }
}

/** Loads job `id` if the request may see it; throws 401/404 otherwise. */
export async function authorizeJob(deps: GatewayDeps, req: Request, id: string): Promise<JobRecord> {
  const token = bearer(req);
  if (token && isJobToken(token)) {
    const bid = peekJobToken(token)?.bid;
    const key = typeof bid === 'string' ? await deps.farm.builderKey(bid) : null;
    if (!key) throw new KilnError('ERR_TOKEN_INVALID', 'job token names an unknown builder');
    await verifyJobToken(token, key, { jti: id });
    const rec = await deps.farm.getJob(id);
    if (!rec) throw new KilnError('ERR_JOB_NOT_FOUND', `no job ${id}`);
    return rec;
  }
  const principal = await deps.authenticate(req);
  const rec = await deps.farm.getJob(id);
  if (!rec || (rec.tenant !== principal.tenant && !principal.admin)) {
    throw new KilnError('ERR_JOB_NOT_FOUND', `no job ${id}`);
  }
  return rec;
}
