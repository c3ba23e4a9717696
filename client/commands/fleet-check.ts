/** `kiln fleet check [HOST|GROUP…] -i INVENTORY` — names each fault of each builder host. */
import { say, type Io } from '../command.ts';
import { checkFleetHost, farmFacts } from '../fleet/check.ts';
import type { FleetArgs } from '../fleet/options.ts';
import { openFleet, table } from '../fleet/session.ts';
import { mapBounded } from '../fleet/targets.ts';

type CheckArgs = FleetArgs & { maxSkew: number; expectVersion?: string };

export async function handler(a: CheckArgs, io: Io): Promise<number> {
  const fleet = openFleet(a, io);
  const farm = await farmFacts(fleet.api, a.expectVersion, a.maxSkew);
  const results = await mapBounded(fleet.hosts, a.parallel, (h) => checkFleetHost(h, farm));
  if (a.json) say(io.stdout, JSON.stringify({ ok: results.every((r) => r.ok), hosts: results }));
  else {
    const rows = [['HOST', 'BUILDER', 'VERSION', 'SKEW', 'STATUS']];
    for (const r of results) {
      const status =
        (r.ok ? 'ok' : r.faults.map((f) => f.code).join(', ')) + (r.draining ? ' (draining)' : '');
      rows.push([r.host, r.builder, r.version ?? '-', r.skewSec === null ? '-' : `${r.skewSec}s`, status]);
    }
    say(io.stdout, table(rows));
    for (const r of results) for (const f of r.faults) say(io.stdout, `${r.host}: ${f.code}: ${f.message}`);
  }
  return results.every((r) => r.ok) ? 0 : 1;
}
