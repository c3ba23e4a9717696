/**
 * Colour for compiles that run here on behalf of the native front: the daemon's compiler writes
 * to a pipe, so `kiln-cc` says whether its own stderr is a terminal (`KILN_CC_STDERR_TTY=1`) and
 * the compile gets `-fdiagnostics-color=always` when gcc or clang would have coloured on its own
 * (a terminal, `TERM` set and not `dumb`, no colour option of the user's). The Node form hands
 * the terminal itself to the compiler instead.
 */
import { isCompilerName } from './detect.ts';

const COLOUR_OPTION = /^-f(?:no-)?(?:diagnostics-color|color-diagnostics)(?:=|$)/;

export function colourArgs(argv: string[], env: NodeJS.ProcessEnv): string[] {
  if (env.KILN_CC_STDERR_TTY !== '1' || !env.TERM || env.TERM === 'dumb') return [];
  if (!isCompilerName(argv[0])) return [];
  if (argv.some((a) => COLOUR_OPTION.test(a))) return [];
  return ['-fdiagnostics-color=always'];
}
