/** `kiln farm status` */
import { say, type Io } from '../command.ts';
import { callJson } from '../http.ts';
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

export async function handler(a: { json: boolean }, io: Io): Promise<number> {
  const s = await callJson<Status>(apiFor(io), '/api/v1/status');
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
}
