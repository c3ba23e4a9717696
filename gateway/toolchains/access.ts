/** Who may change presets and toolchains: their owner (same subject and tenant) or an admin. */
import { KilnError } from '../../protocol/errors.ts';
import type { ToolchainOwner } from '../../protocol/toolchain.ts';
import type { Principal } from '../auth/principal.ts';
import type { GatewayDeps } from '../context.ts';
import type { PresetStore } from '../../protocol/preset-store.ts';

/** True when `principal` is `owner` (same subject in the same tenant). */
export function isOwner(principal: Principal, owner: ToolchainOwner): boolean {
  return principal.sub === owner.sub && principal.tenant === owner.tenant;
}

/** The preset store, or ERR_UNAVAILABLE when this gateway was built without one. */
export function needPresets(deps: GatewayDeps): PresetStore {
  if (!deps.presets)
    throw new KilnError('ERR_UNAVAILABLE', 'toolchain presets are not configured on this gateway');
  return deps.presets;
}
