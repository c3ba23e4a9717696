/**
 * The preset-store port: named toolchain presets and who owns each toolchain archive.
 * Implementation: redis/presets.ts. Runtime-neutral, interface only.
 */
import type { PresetRecord, ToolchainOwner } from './toolchain.ts';

/** Presets (`name@platform` → record) and toolchain owners, shared by every gateway. */
export interface PresetStore {
  /** The preset `name@platform`, or null. */
  get(id: string): Promise<PresetRecord | null>;
  /** Every preset, in no particular order. */
  list(): Promise<PresetRecord[]>;
  /**
   * Writes `rec` under its `name@platform` if the preset is still `expected` (null: absent).
   * Returns false when someone changed it meanwhile (nothing is written).
   */
  put(rec: PresetRecord, expected: PresetRecord | null): Promise<boolean>;
  /** Removes the preset if it is still `expected`; false when it changed meanwhile or is gone. */
  delete(expected: PresetRecord): Promise<boolean>;
  /** Who first uploaded the toolchain `digest`, or null when nobody is recorded. */
  owner(digest: string): Promise<ToolchainOwner | null>;
  /** Records `owner` for `digest` unless one is recorded already; returns the recorded owner. */
  claim(digest: string, owner: ToolchainOwner): Promise<ToolchainOwner>;
  /** Forgets the owner of a deleted toolchain. */
  forget(digest: string): Promise<void>;
}
