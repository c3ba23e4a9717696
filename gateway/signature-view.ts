/**
 * Results as the gateway hands them out: with the producing builder's signature and whether its
 * key is the one that builder registered (live, or gone for less than SIGNER_KEY_KEPT_SEC). The
 * gateway checks no signature itself — the client does, before it writes anything — it only says
 * whether the key belongs to a builder, from the registry in Redis, never from the store.
 */
import type { ActionResult, ActionResultView } from '../protocol/action.ts';
import type { JobRecord } from '../protocol/farm.ts';
import type { FarmState } from '../protocol/gateway-port.ts';
import type { JobView } from '../protocol/job.ts';
import { isResultSignature, type ResultSignature, type SignatureView } from '../protocol/result-signature.ts';
import { toJobView } from './job-view.ts';

/** A signature with its `registered` flag; undefined for none (or a block that is not one). */
export async function signatureView(
  farm: Pick<FarmState, 'signerKey'>,
  sig: ResultSignature | null | undefined,
): Promise<SignatureView | undefined> {
  if (!isResultSignature(sig)) return undefined;
  const known = await farm.signerKey(sig.builder);
  return { ...sig, registered: known !== null && known.key === sig.key };
}

/** The public view of a job record, with its signature (once it has ended). */
export async function signedJobView(farm: Pick<FarmState, 'signerKey'>, rec: JobRecord): Promise<JobView> {
  const view = toJobView(rec);
  const signature = await signatureView(farm, rec.signature);
  return signature ? { ...view, signature } : view;
}

/** A cached action as answered: its signature with the `registered` flag. */
export async function signedAction(
  farm: Pick<FarmState, 'signerKey'>,
  hit: ActionResult,
): Promise<ActionResultView> {
  const { signature: sig, ...rest } = hit;
  const signature = await signatureView(farm, sig);
  return signature ? { ...rest, signature } : rest;
}
