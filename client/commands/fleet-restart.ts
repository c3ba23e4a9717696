/**
 * `kiln fleet restart [HOST|GROUP…] -i INVENTORY` — per host: drain its builder, wait until it
 * holds no job, restart the service over SSH, wait until the new agent registered, undrain (unless
 * it was drained before). One host at a time unless --parallel says otherwise.
 */
import { say, type Io } from '../command.ts';
import { UserError } from '../errors.ts';
import { getBuilder, jobsHeld, setDraining, waitIdle } from '../farm/builders-api.ts';
import type { FleetArgs } from '../fleet/options.ts';
import { openFleet, table } from '../fleet/session.ts';
import { connectSsh } from '../fleet/ssh.ts';
import { mapBounded } from '../fleet/targets.ts';
import type { FleetHost } from '../fleet/targets.ts';
import type { Api } from '../http.ts';

type RestartArgs = FleetArgs & { wait: number; registerTimeout: number };

interface Restarted {
  host: string;
  builder: string;
  from: string[];
  to: string;
  keptDrained: boolean;
}

async function restartOne(api: Api, h: FleetHost, a: RestartArgs, signal: AbortSignal): Promise<Restarted> {
  const before = await getBuilder(api, h.builder);
  const wasDrained = before.draining;
  const drained = await setDraining(api, h.builder, true);
  const idle = await waitIdle(api, h.builder, a.wait * 1000, 500, signal);
  if (jobsHeld(idle) > 0) {
    throw new UserError(
      `${h.name}: still ${jobsHeld(idle)} job(s) after ${a.wait} s; left drained, not restarted (--wait longer)`,
    );
  }
  const from = drained.builders.filter((b) => b.live).map((b) => b.id);
  const s = await connectSsh(h.ssh);
  try {
    const r = await s.exec(`service ${h.service} restart`);
    if (r.code !== 0)
      throw new UserError(
        `${h.name}: service ${h.service} restart failed (${r.code}): ${(r.stderr || r.stdout).trim()}`,
      );
  } finally {
    s.close();
  }
  const end = Date.now() + a.registerTimeout * 1000;
  for (;;) {
    const now = await getBuilder(api, h.builder);
    const fresh = now.builders.find((b) => b.live && !from.includes(b.id));
    if (fresh) {
      if (!wasDrained) await setDraining(api, h.builder, false);
      return { host: h.name, builder: h.builder, from, to: fresh.id, keptDrained: wasDrained };
    }
    if (Date.now() > end || signal.aborted) {
      throw new UserError(
        `${h.name}: restarted, but no new builder ${h.builder} registered within ${a.registerTimeout} s; left drained (kiln fleet logs ${h.name})`,
      );
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

export async function handler(a: RestartArgs, io: Io): Promise<number> {
  const fleet = openFleet(a, io);
  const done = await mapBounded(fleet.hosts, a.parallel, (h) => restartOne(fleet.api, h, a, io.signal));
  if (a.json) say(io.stdout, JSON.stringify(done));
  else {
    const rows = [['HOST', 'BUILDER', 'WAS', 'NOW', 'DRAINED']];
    for (const d of done)
      rows.push([d.host, d.builder, d.from.join(',') || '-', d.to, d.keptDrained ? 'yes (as before)' : 'no']);
    say(io.stdout, table(rows));
  }
  return 0;
}
