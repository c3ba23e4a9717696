/**
 * The target a clang or clang-cl compile is for, as the local driver computes it: cc1's `-triple`
 * in `-###` output (with the deployment target: `arm64-apple-macosx11.0.0`), and for clang-cl the
 * MSVC version it emulates (`-fms-compatibility-version=19.20`). The remote compile names them
 * (`--target=…`), so a builder's clang (a Linux one) makes this client's objects, never those of
 * its own default target.
 */
import { spawn } from 'node:child_process';
import { spawnable } from './spawn-command.ts';

/** Does the command line name its target already? */
export function namesTarget(argv: string[]): boolean {
  return argv.some(
    (a) =>
      a === '-target' || a === '--target' || a.startsWith('--target=') || a.startsWith('/clang:--target='),
  );
}

/** The target the command line names itself (`--target=x`, `-target x`, `/clang:--target=x`), or null. */
export function namedTarget(argv: string[]): string | null {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const joined = /^(?:\/clang:)?--target=(.+)$/.exec(a);
    if (joined) return joined[1]!;
    if ((a === '-target' || a === '--target') && argv[i + 1] !== undefined) return argv[i + 1]!;
  }
  return null;
}

/** Reads the target from `-###` output: the options that name it in the remote compile, or [] when it says none. */
export function targetArgs(hashes: string): string[] {
  const triple = /"-triple" "([^"]+)"/.exec(hashes)?.[1];
  if (!triple) return [];
  const ms = /"-fms-compatibility-version=([^"]+)"/.exec(hashes)?.[1];
  // A versioned msvc triple would set the version with three parts (19.20.0): name it apart, as cc1 got it.
  if (ms && /-msvc[\d.]+$/.test(triple))
    return [`--target=${triple.replace(/(-msvc)[\d.]+$/, '$1')}`, `-fms-compatibility-version=${ms}`];
  return [`--target=${triple}`];
}

/**
 * What `argv`'s driver prints for `-###` (the jobs it would run, on stderr) and its exit code;
 * null when it cannot be started.
 */
export function driverJobs(
  argv: string[],
  cwd: string,
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; stderr: string } | null> {
  return new Promise((resolve) => {
    const [cmd, ...args] = argv;
    const run = spawnable(cmd!, ['-###', ...args], process.platform, env);
    const child = spawn(run.file, run.args, {
      ...run.options,
      cwd,
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const err: Buffer[] = [];
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', () => resolve(null));
    child.on('close', (code) => resolve({ code, stderr: Buffer.concat(err).toString('utf8') }));
  });
}

/** The target options of `argv` (compiler first) as its driver computes them; [] when it does not say. */
export async function localTarget(argv: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<string[]> {
  const out = await driverJobs(argv, cwd, env);
  return out ? targetArgs(out.stderr) : [];
}

/** The remote command line with the target options after the compiler, unless it names a target already. */
export function withTarget(compileArgv: string[], target: string[] | null): string[] {
  if (!target || target.length === 0 || namesTarget(compileArgv)) return compileArgv;
  return [compileArgv[0]!, ...target, ...compileArgv.slice(1)];
}
