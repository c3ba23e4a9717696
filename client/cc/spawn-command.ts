/**
 * What to spawn for a compiler command on this OS. On Windows a `.bat` or `.cmd` (a compiler
 * wrapper, a toolchain's launcher script) cannot be spawned directly (Node refuses it with EINVAL
 * since the BatBadBut fix): it runs through `cmd.exe /d /s /c "…"` with every argument quoted for
 * the C runtime and its cmd metacharacters escaped with `^`, as cross-spawn does, so arguments
 * reach the script unchanged and none is taken as a command.
 */
import type { SpawnOptions } from 'node:child_process';

const META = /([()\][%!^"`<>&|;, *?])/g;

/** One argument as a .bat receives it through cmd.exe (cross-spawn's escapeArgument). */
export function escapeForCmd(arg: string, twice = false): string {
  let a = arg.replace(/(?=(\\+?)?)\1"/g, '$1$1\\"').replace(/(?=(\\+?)?)\1$/, '$1$1');
  a = `"${a}"`.replace(META, '^$1');
  return twice ? a.replace(META, '^$1') : a;
}

export interface Spawnable {
  file: string;
  args: string[];
  options: Pick<SpawnOptions, 'windowsVerbatimArguments'>;
}

/** `cmd` and `args` as spawn must get them on `platform`. */
export function spawnable(
  cmd: string,
  args: string[],
  platform: NodeJS.Platform = process.platform,
  env: NodeJS.ProcessEnv = process.env,
): Spawnable {
  if (platform !== 'win32' || !/\.(?:bat|cmd)$/i.test(cmd)) return { file: cmd, args, options: {} };
  // npm's .cmd shims pass their arguments on once more, through a second cmd.exe.
  const twice = /node_modules[\\/]\.bin[\\/][^\\/]+\.cmd$/i.test(cmd);
  const line = [cmd.replace(META, '^$1'), ...args.map((a) => escapeForCmd(a, twice))].join(' ');
  return {
    file: env.ComSpec ?? env.COMSPEC ?? 'cmd.exe',
    args: ['/d', '/s', '/c', `"${line}"`],
    options: { windowsVerbatimArguments: true },
  };
}
