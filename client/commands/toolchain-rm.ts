/** `kiln toolchain rm NAME@PLATFORM [--with-archive] [--json]` */
import { parsePresetId, presetIdProblem } from '../../protocol/toolchain.ts';
import { say, type Io } from '../command.ts';
import { FarmError, UserError } from '../errors.ts';
import { apiFor } from '../session.ts';
import { deletePreset, deleteToolchain } from '../toolchain-api.ts';

interface RmArgs {
  preset: string;
  withArchive: boolean;
  json: boolean;
}

export async function handler(a: RmArgs, io: Io): Promise<number> {
  const id = String(a.preset);
  if (!parsePresetId(id)) throw new UserError(presetIdProblem(id));
  const api = apiFor(io);
  const removed = await deletePreset(api, id);
  let archiveDeleted = false;
  let code = 0;
  if (a.withArchive) {
    try {
      await deleteToolchain(api, removed.digest);
      archiveDeleted = true;
    } catch (err) {
      // The preset is gone either way; say why the archive stayed.
      if (!(err instanceof FarmError) || err.httpStatus === 0) throw err;
      io.stderr.write(`kiln: kept archive ${removed.digest}: ${err.message}\n`);
      code = 1;
    }
  }
  if (a.json) say(io.stdout, JSON.stringify({ removed, archiveDeleted }));
  else {
    say(io.stdout, `removed ${id} (${removed.digest})`);
    if (archiveDeleted) say(io.stdout, `deleted archive ${removed.digest}`);
  }
  return code;
}
