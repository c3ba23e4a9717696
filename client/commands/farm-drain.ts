/** `kiln farm drain BUILDER` (admin): no new job is placed on it; with --wait, until its jobs end. */
import { say, type Io } from '../command.ts';
import { UserError } from '../errors.ts';
import { jobsHeld, setDraining, waitIdle, type BuilderState } from '../farm/builders-api.ts';
import { apiFor } from '../session.ts';

/** One line on a builder name's drain state and its builders (also printed by `farm undrain`). */
export function describeState(s: BuilderState): string {
  const ids = s.builders.map((b) => `${b.id} ${b.load}/${b.slots}${b.live ? '' : ' (lease expired)'}`);
  const how = s.drain ? `draining (by ${s.drain.by} since ${s.drain.at})` : 'taking jobs';
  return `${s.name}: ${how}; ${ids.length ? ids.join(', ') : 'no builder registered under this name'}`;
}

export async function handler(
  a: { builder: string; json: boolean; wait: number | undefined },
  io: Io,
): Promise<number> {
  const api = apiFor(io);
  let s = await setDraining(api, a.builder, true);
  if (a.wait !== undefined) {
    s = await waitIdle(api, s.name, a.wait * 1000, 500, io.signal);
    if (jobsHeld(s) > 0 && !a.json) {
      throw new UserError(`${s.name} is draining but still holds ${jobsHeld(s)} job(s) after ${a.wait} s`);
    }
  }
  say(io.stdout, a.json ? JSON.stringify(s) : describeState(s));
  return a.wait !== undefined && jobsHeld(s) > 0 ? 1 : 0;
}
