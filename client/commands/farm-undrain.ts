/** `kiln farm undrain BUILDER` (admin): placement uses a drained builder again. */
import { say, type Io } from '../command.ts';
import { setDraining } from '../farm/builders-api.ts';
import { apiFor } from '../session.ts';
import { describeState } from './farm-drain.ts';

export async function handler(a: { builder: string; json: boolean }, io: Io): Promise<number> {
  const s = await setDraining(apiFor(io), a.builder, false);
  say(io.stdout, a.json ? JSON.stringify(s) : describeState(s));
  return 0;
}
