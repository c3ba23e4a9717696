/** `kiln farm status` */
import { call } from '../api.ts';
import { say, type Command } from '../command.ts';
import { apiFor } from '../session.ts';

interface Status {
  version: string;
  store: string;
  builders: {
    id: string;
    name?: string;
    platform: string;
    slots: number;
    load: number;
    live: boolean;
    draining: boolean;
    drain: { by: string; at: string } | null;
    version: string;
  }[];
  /** Drained names, also those with no builder registered now. */
  drained?: { name: string; by: string; at: string }[];
}

export const farmStatus: Command<{ json: boolean }> = {
  command: 'farm status',
  describe: 'list the builders of the farm and their load',
  options: { json: { type: 'boolean', describe: 'print JSON', default: false } },
  async handler(a, io) {
    const s = (await (await call(apiFor(io), '/api/v1/status')).json()) as Status;
    if (a.json) {
      say(io.stdout, JSON.stringify(s));
      return 0;
    }
    say(io.stdout, `gateway ${s.version}, store ${s.store}, ${s.builders.length} builder(s)`);
    for (const b of s.builders) {
      const drain = b.drain ? `draining (by ${b.drain.by})` : b.draining ? 'draining' : '';
      const flags = [b.live ? 'live' : 'lease expired', drain].filter(Boolean).join(', ');
      say(io.stdout, `  ${b.id.padEnd(28)} ${b.platform.padEnd(14)} ${b.load}/${b.slots} slots  ${flags}`);
    }
    const idle = (s.drained ?? []).filter((d) => !s.builders.some((b) => b.name === d.name));
    for (const d of idle) say(io.stdout, `  ${d.name.padEnd(28)} drained by ${d.by}, no builder registered`);
    return 0;
  },
};
