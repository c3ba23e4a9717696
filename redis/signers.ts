/**
 * Builders' result-signing public keys on Redis, under the `{sig}` hash tag: one STRING per
 * builder id (its {@link SignerRecord}, expiring SIGNER_KEY_KEPT_SEC after its last heartbeat)
 * and a ZSET index by last heartbeat. A builder writes its own on registration and renews it with
 * its lease; the gateway reads them (to tell whether a result's key is a registered builder's) and
 * drops index entries past the retention when it lists them.
 */
import type { RedisConn } from './connect.ts';
import type { BuilderInfo, SignerRecord } from '../protocol/farm.ts';
import type { Keys } from '../protocol/keys.ts';
import { SIGNER_KEY_KEPT_SEC } from '../protocol/result-signature.ts';

/** Records the signing key of a builder that registers (its own record, and its place in the index). */
export async function recordSigner(
  redis: RedisConn,
  keys: Keys,
  info: BuilderInfo,
  now = Date.now(),
): Promise<void> {
  if (!info.signingKey) return;
  const rec: Omit<SignerRecord, 'lastSeen'> = {
    builder: info.id,
    name: info.name,
    platform: info.platform,
    key: info.signingKey,
    registeredAt: new Date(now).toISOString(),
  };
  await redis
    .multi()
    .set(keys.signerKey(info.id), JSON.stringify(rec), 'EX', SIGNER_KEY_KEPT_SEC)
    .zadd(keys.signers, now, info.id)
    .exec();
}

/** Keeps a live builder's signing key known for another SIGNER_KEY_KEPT_SEC. */
export async function renewSigner(
  redis: RedisConn,
  keys: Keys,
  info: BuilderInfo,
  now = Date.now(),
): Promise<void> {
  if (!info.signingKey) return;
  await redis
    .multi()
    .expire(keys.signerKey(info.id), SIGNER_KEY_KEPT_SEC)
    .zadd(keys.signers, now, info.id)
    .exec();
}

function parse(raw: string | null, lastSeen: number): SignerRecord | null {
  if (!raw) return null;
  try {
    return { ...(JSON.parse(raw) as Omit<SignerRecord, 'lastSeen'>), lastSeen };
  } catch {
    return null;
  }
}

/** The signing key builder `bid` registered, or null (never registered one, or gone too long). */
export async function readSigner(redis: RedisConn, keys: Keys, bid: string): Promise<SignerRecord | null> {
  const [[, raw], [, score]] = (await redis
    .multi()
    .get(keys.signerKey(bid))
    .zscore(keys.signers, bid)
    .exec()) as [[null, string | null], [null, string | null]];
  return parse(raw, Number(score ?? 0));
}

/** Every signing key still known, most recently seen first; index entries past the retention are dropped. */
export async function listSigners(redis: RedisConn, keys: Keys, now = Date.now()): Promise<SignerRecord[]> {
  await redis.zremrangebyscore(keys.signers, '-inf', now - SIGNER_KEY_KEPT_SEC * 1000);
  const flat = await redis.zrevrangebyscore(
    keys.signers,
    '+inf',
    now - SIGNER_KEY_KEPT_SEC * 1000,
    'WITHSCORES',
  );
  const ids: string[] = [];
  const seen: number[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) {
    ids.push(flat[i]!);
    seen.push(Number(flat[i + 1]));
  }
  if (ids.length === 0) return [];
  const raws = await redis.mget(...ids.map((id) => keys.signerKey(id)));
  return raws.map((raw, i) => parse(raw, seen[i]!)).filter((r): r is SignerRecord => r !== null);
}
