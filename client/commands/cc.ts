/**
 * `kiln cc <compiler> <args…>` — listed here for --help; the compile itself is dispatched before
 * yargs (client/cc/detect.ts), so compiler flags never meet the option parser.
 */
import { UserError } from '../errors.ts';

export async function handler(): Promise<number> {
  throw new UserError('give the compiler and its arguments: kiln cc gcc -c hello.c -o hello.o');
}
