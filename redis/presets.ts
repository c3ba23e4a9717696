/**
 * {@link PresetStore} on Redis: one hash of presets (`name@platform` → canonical JSON) and one
 * string per toolchain owner. Replacing or removing a preset is compare-and-set
 * (scripts/cas-preset-1.lua), so two publishers never overwrite each other unknowingly.
 */
import type { RedisConn } from './connect.ts';
import { canonicalJson } from '../protocol/digest.ts';
import { KilnError } from '../protocol/errors.ts';
import { redisKeys } from '../protocol/keys.ts';
import { ownerSchema, presetId, presetRecordSchema } from '../protocol/toolchain.ts';
import type { PresetRecord, ToolchainOwner } from '../protocol/toolchain.ts';
import type { PresetStore } from '../protocol/preset-store.ts';
import { defineScripts } from './scripts.ts';
import { SCRIPT_DONE } from './codes.ts';

function parseRecord(id: string, raw: string): PresetRecord {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    value = null;
  }
  const r = presetRecordSchema.safeParse(value);
  if (!r.success) throw new KilnError('ERR_INTERNAL', `preset ${id} is stored malformed in Redis`);
  return r.data;
}

/** Builds the preset store on a connection; `prefix` namespaces the keys (tests use a unique one). @default 'kiln' */
export function createRedisPresetStore(redis: RedisConn, prefix = 'kiln'): PresetStore {
  const keys = redisKeys(prefix);
  const { casPreset } = defineScripts(redis);
  const cas = async (id: string, expected: string, next: string): Promise<boolean> =>
    (await casPreset(keys.presets, id, expected, next)) === SCRIPT_DONE;

  return {
    async get(id) {
      const raw = await redis.hget(keys.presets, id);
      return raw === null ? null : parseRecord(id, raw);
    },

    async list() {
      const all = await redis.hgetall(keys.presets);
      return Object.entries(all).map(([id, raw]) => parseRecord(id, raw));
    },

    async put(rec, expected) {
      const id = presetId(rec);
      return cas(id, expected ? canonicalJson(expected) : '', canonicalJson(rec));
    },

    async delete(expected) {
      return cas(presetId(expected), canonicalJson(expected), '');
    },

    async owner(digest) {
      const raw = await redis.get(keys.toolchainOwner(digest));
      if (raw === null) return null;
      const r = ownerSchema.safeParse(JSON.parse(raw));
      return r.success ? r.data : null;
    },

    async claim(digest, owner): Promise<ToolchainOwner> {
      const key = keys.toolchainOwner(digest);
      if ((await redis.set(key, JSON.stringify(owner), 'NX')) === 'OK') return owner;
      const raw = await redis.get(key);
      const r = raw === null ? null : ownerSchema.safeParse(JSON.parse(raw));
      return r?.success ? r.data : owner;
    },

    async forget(digest) {
      await redis.del(keys.toolchainOwner(digest));
    },
  };
}
