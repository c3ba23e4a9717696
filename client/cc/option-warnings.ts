/**
 * clang's warnings about its own command line: an unknown `-W` option (with its suggestion) and
 * the count line. cc1 prints them from the options alone, the same for `-E` as for `-c`, so a
 * preprocessing that printed only these lines is followed by a compile that prints exactly them,
 * unless the source adds a diagnostic (then the remote compile's stderr differs and it compiles
 * here). Colour escapes (`-fcolor-diagnostics`) are allowed: the remote compile gets the option too.
 */
const UNKNOWN =
  /^warning: unknown warning option '[^'\n]*'(?:; did you mean '[^'\n]*'\?)? \[-Wunknown-warning-option\]$/;
const COUNT = /^\d+ warnings? generated\.$/;
const ESCAPES = new RegExp(String.raw`\u001b\[[0-9;]*m`, 'g');

/** Whether clang's `stderr` is nothing but warnings about unknown `-W` options (and their count). */
export function onlyOptionWarnings(stderr: string): boolean {
  const lines = stderr.replace(ESCAPES, '').split('\n');
  if (lines.pop() !== '') return false;
  return lines.some((l) => UNKNOWN.test(l)) && lines.every((l) => UNKNOWN.test(l) || COUNT.test(l));
}
