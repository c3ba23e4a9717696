/** `kiln fleet drain [HOST|GROUP…] -i INVENTORY` — the farm drain of each host's builder. */
import { say, type Io } from '../command.ts';
import { jobsHeld, setDraining, waitIdle, type BuilderState } from '../farm/builders-api.ts';
import type { FleetArgs } from '../fleet/options.ts';
import { openFleet, table } from '../fleet/session.ts';
import { mapBounded } from '../fleet/targets.ts';

/** The drain state of each host's builder, as a table or JSON (also printed by `fleet undrain`). */
export function printDrains(io: Io, json: boolean, rows: { host: string; state: BuilderState }[]): void {
  if (json) return say(io.stdout, JSON.stringify(rows));
  const t = [['HOST', 'BUILDER', 'DRAINING', 'JOBS']];
  for (const r of rows)
    t.push([r.host, r.state.name, r.state.draining ? 'yes' : 'no', String(jobsHeld(r.state))]);
  say(io.stdout, table(t));
}

export async function handler(a: FleetArgs & { wait?: number }, io: Io): Promise<number> {
  const fleet = openFleet(a, io);
  const rows = await mapBounded(fleet.hosts, a.parallel, async (h) => {
    let state = await setDraining(fleet.api, h.builder, true);
    if (a.wait !== undefined) state = await waitIdle(fleet.api, h.builder, a.wait * 1000, 500, io.signal);
    return { host: h.name, state };
  });
  printDrains(io, a.json, rows);
  return a.wait !== undefined && rows.some((r) => jobsHeld(r.state) > 0) ? 1 : 0;
}
