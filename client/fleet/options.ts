/** The options every `kiln fleet` command takes (no heavy imports: the command table loads this). */
import type { OptionSpec } from '../command.ts';

export interface FleetArgs {
  hosts?: string[];
  inventory?: string;
  knownHosts?: string;
  identity?: string;
  user?: string;
  gateway?: string;
  parallel: number;
  json: boolean;
}

export const FLEET_POSITIONAL = {
  hosts: {
    type: 'string' as const,
    describe: 'hosts or groups of the inventory (default: linux_builders freebsd_builders)',
    array: true,
  },
};

export const FLEET_OPTIONS: Record<string, OptionSpec> = {
  inventory: {
    type: 'string',
    alias: 'i',
    describe: 'Ansible inventory, INI or YAML (default $KILN_INVENTORY, $ANSIBLE_INVENTORY)',
  },
  knownHosts: {
    type: 'string',
    describe: 'known_hosts file host keys are checked against (default ~/.ssh/known_hosts)',
  },
  identity: {
    type: 'string',
    describe: "private key file (default: the inventory's ansible_ssh_private_key_file, and the agent)",
  },
  user: { type: 'string', describe: 'SSH user (default: ansible_user, else root)' },
  gateway: {
    type: 'string',
    describe: "gateway URL (default $KILN_GATEWAY, the inventory's kiln_gateway_url, kiln.toml)",
  },
  parallel: { type: 'number', describe: 'hosts worked on at once', default: 8 },
  json: { type: 'boolean', describe: 'print JSON', default: false },
};
