/** Is this first argument a compiler (the CMake launcher form `kiln gcc -c …`)? */
const COMPILER = /^(?:[\w.+-]+-)?(?:gcc|g\+\+|cc|c\+\+|clang|clang\+\+|clang-cl)(?:-\d+(?:\.\d+)*)?$/;

export function isCompilerName(arg: string | undefined): boolean {
  if (!arg) return false;
  const base = arg.split(/[\\/]/).pop() ?? '';
  return COMPILER.test(base.replace(/\.exe$/i, ''));
}

/** The compiler argv of a `kiln …` command line, or null when it is not a compile. */
export function ccArgv(args: string[]): string[] | null {
  if (args[0] === 'cc' && args.length > 1) return args.slice(1);
  if (isCompilerName(args[0])) return args;
  return null;
}
