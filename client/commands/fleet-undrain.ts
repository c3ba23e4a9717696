/** `kiln fleet undrain [HOST|GROUP…] -i INVENTORY` — placement uses these hosts' builders again. */
import type { Io } from '../command.ts';
import { setDraining } from '../farm/builders-api.ts';
import type { FleetArgs } from '../fleet/options.ts';
import { openFleet } from '../fleet/session.ts';
import { mapBounded } from '../fleet/targets.ts';
import { printDrains } from './fleet-drain.ts';

export async function handler(a: FleetArgs, io: Io): Promise<number> {
  const fleet = openFleet(a, io);
  const rows = await mapBounded(fleet.hosts, a.parallel, async (h) => ({
    host: h.name,
    state: await setDraining(fleet.api, h.builder, false),
  }));
  printDrains(io, a.json, rows);
  return 0;
}
