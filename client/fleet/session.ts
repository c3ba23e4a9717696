/** What every `kiln fleet` command shares: its options, the inventory's hosts, the gateway. */
import type { Api } from '../http.ts';
import type { Io } from '../command.ts';
import type { FleetArgs } from './options.ts';
import { UserError } from '../errors.ts';
import { apiFor } from '../session.ts';
import { readInventory, selectHosts } from './inventory.ts';
import { fleetHost, type FleetHost } from './targets.ts';

export interface Fleet {
  hosts: FleetHost[];
  api: Api;
}

export function openFleet(a: FleetArgs, io: Io): Fleet {
  const file = a.inventory ?? io.env.KILN_INVENTORY ?? io.env.ANSIBLE_INVENTORY;
  if (!file)
    throw new UserError(
      'give the Ansible inventory: kiln fleet … -i inventory/hosts.ini (or set KILN_INVENTORY)',
    );
  const all = readInventory(file.startsWith('/') ? file : `${io.cwd}/${file}`);
  const patterns = a.hosts && a.hosts.length > 0 ? a.hosts : ['linux_builders', 'freebsd_builders'];
  const chosen = selectHosts(all, patterns);
  const hosts = chosen.map((h) =>
    fleetHost(h, {
      ...(a.knownHosts ? { knownHosts: a.knownHosts } : {}),
      ...(a.identity ? { identity: a.identity } : {}),
      ...(a.user ? { user: a.user } : {}),
    }),
  );
  if (!Number.isInteger(a.parallel) || a.parallel < 1)
    throw new UserError('--parallel must be a whole number ≥ 1');
  const api = apiFor(io);
  const fromInventory = chosen.map((h) => h.vars.kiln_gateway_url).find((v) => typeof v === 'string');
  const base = a.gateway ?? io.env.KILN_GATEWAY ?? (fromInventory as string | undefined) ?? api.base;
  return { hosts, api: { ...api, base: base.replace(/\/$/, '') } };
}

/** Prints rows as a fixed-width table. */
export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows
    .map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  '))
    .join('\n');
}
