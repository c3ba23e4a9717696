/** `kiln farm drain BUILDER` and `kiln farm undrain BUILDER` (admin). */
import { say, type Command } from '../command.ts';
import { UserError } from '../errors.ts';
import { jobsHeld, setDraining, waitIdle, type BuilderState } from '../farm/builders-api.ts';
import { apiFor } from '../session.ts';

function describeState(s: BuilderState): string {
  const ids = s.builders.map((b) => `${b.id} ${b.load}/${b.slots}${b.live ? '' : ' (lease expired)'}`);
  const how = s.drain ? `draining (by ${s.drain.by} since ${s.drain.at})` : 'taking jobs';
  return `${s.name}: ${how}; ${ids.length ? ids.join(', ') : 'no builder registered under this name'}`;
}

type DrainArgs = { builder: string; json: boolean; wait: number | undefined };

export const farmDrain: Command<DrainArgs> = {
  command: 'farm drain <builder>',
  describe: 'set a builder draining: no new job is placed on it, running jobs finish (admin)',
  positional: { builder: { type: 'string', describe: 'builder name (builder.toml name) or id' } },
  options: {
    json: { type: 'boolean', describe: 'print JSON', default: false },
    wait: { type: 'number', describe: 'wait up to S seconds until its jobs have finished' },
  },
  async handler(a, io) {
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
  },
};

export const farmUndrain: Command<{ builder: string; json: boolean }> = {
  command: 'farm undrain <builder>',
  describe: 'let placement use a drained builder again (admin)',
  positional: { builder: { type: 'string', describe: 'builder name (builder.toml name) or id' } },
  options: { json: { type: 'boolean', describe: 'print JSON', default: false } },
  async handler(a, io) {
    const s = await setDraining(apiFor(io), a.builder, false);
    say(io.stdout, a.json ? JSON.stringify(s) : describeState(s));
    return 0;
  },
};
