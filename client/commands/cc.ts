/**
 * `kiln cc <compiler> <args…>` — listed here for --help; the compile itself is dispatched before
 * yargs (client/cc/detect.ts), so compiler flags never meet the option parser.
 */
import type { Command } from '../command.ts';
import { UserError } from '../errors.ts';

export const cc: Command<{ compiler?: string }> = {
  command: 'cc [compiler]',
  describe:
    'compile on the farm: kiln cc gcc -c a.c -o a.o (also the CMake launcher form: kiln gcc …); falls back to a local compile on any farm failure',
  positional: { compiler: { type: 'string', describe: 'the compiler, then its arguments' } },
  async handler() {
    throw new UserError('give the compiler and its arguments: kiln cc gcc -c hello.c -o hello.o');
  },
};
