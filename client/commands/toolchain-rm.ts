/** `kiln toolchain rm NAME@PLATFORM [--with-archive] [--json]` */
import { parsePresetId, presetIdProblem } from '../../protocol/toolchain.ts';
import { FarmError } from '../api.ts';
import { say, type Command } from '../command.ts';
import { UserError } from '../errors.ts';
import { apiFor } from '../session.ts';
import { deletePreset, deleteToolchain } from '../toolchain-api.ts';

interface RmArgs {
  preset: string;
  withArchive: boolean;
  json: boolean;
}

export const toolchainRm: Command<RmArgs> = {
  command: 'toolchain rm <preset>',
  describe: 'remove a toolchain preset (yours, or any as an admin), and with --with-archive its archive',
  positional: { preset: { type: 'string', describe: 'NAME@PLATFORM, such as gcc-12@linux-x86_64' } },
  options: {
    'with-archive': {
      type: 'boolean',
      describe: 'also delete the archive from the farm (refused while another preset uses it)',
      default: false,
    },
    json: { type: 'boolean', describe: 'print { removed, archiveDeleted } as JSON', default: false },
  },
  async handler(a, io) {
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
        if (!(err instanceof FarmError) || err.status === 0) throw err;
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
  },
};
