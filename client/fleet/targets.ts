/**
 * A fleet host as `kiln fleet` sees it: how to reach it over SSH (the inventory's ansible_* vars),
 * its builder name, and where the roles put things on it (Linux or FreeBSD layout).
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { InventoryHost } from './inventory.ts';
import type { SshTarget } from './ssh.ts';

export interface FleetHost {
  name: string;
  ssh: SshTarget;
  /** The builder's name in the farm (kiln_builder_name, else the inventory name, as the roles set it). */
  builder: string;
  freebsd: boolean;
  /** On the host: the kiln command, builder.toml, the service name and its log file. */
  kiln: string;
  config: string;
  service: string;
  logFile: string;
}

export interface TargetDefaults {
  knownHosts?: string;
  identity?: string;
  user?: string;
  timeoutMs?: number;
}

const str = (v: unknown): string | undefined =>
  typeof v === 'string' || typeof v === 'number' ? String(v) : undefined;

export function fleetHost(h: InventoryHost, d: TargetDefaults = {}): FleetHost {
  const v = h.vars;
  const freebsd = h.groups.includes('freebsd_builders') || str(v.ansible_os_family) === 'FreeBSD';
  const keyFile = d.identity ?? str(v.ansible_ssh_private_key_file) ?? str(v.ansible_private_key_file);
  const ssh: SshTarget = {
    name: h.name,
    host: str(v.ansible_host) ?? h.name,
    port: Number(str(v.ansible_port) ?? str(v.ansible_ssh_port) ?? 22),
    user: d.user ?? str(v.ansible_user) ?? str(v.ansible_ssh_user) ?? 'root',
    knownHosts: d.knownHosts ?? join(homedir(), '.ssh', 'known_hosts'),
    ...(keyFile ? { keyFile } : {}),
    ...(d.timeoutMs ? { timeoutMs: d.timeoutMs } : {}),
  };
  return {
    name: h.name,
    ssh,
    builder: str(v.kiln_builder_name) ?? h.name.replace(/[^A-Za-z0-9_.-]/g, '-'),
    freebsd,
    kiln: str(v.kiln_fleet_kiln) ?? '/usr/local/bin/kiln',
    config:
      str(v.kiln_fleet_config) ?? (freebsd ? '/usr/local/etc/kiln/builder.toml' : '/etc/kiln/builder.toml'),
    service: freebsd ? 'kiln_builder' : 'kiln-builder',
    logFile: '/var/log/kiln/builder.log',
  };
}

/** Runs `fn` over `items`, at most `limit` at a time; results keep the input order. */
export async function mapBounded<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return out;
}
