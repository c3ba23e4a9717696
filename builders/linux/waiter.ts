/**
 * The command of a sandbox made ready before its job (builders/linux/ready-pool.ts): a tiny
 * `/bin/sh` inside the finished sandbox that waits for the job on a pipe, then becomes it. The job
 * arrives as a shell program of single-quoted words only ({@link jobProgram}): change to the job's
 * cwd, set exactly its environment, close the pipes, exec its argv. Nothing of it is interpreted
 * but those quoted words, and it runs inside the sandbox as the job's own uid, under the same
 * namespaces, seccomp filter and cgroup, so a mistake in it could only do what the job may do.
 * The program is one `{ ...; }` group, so one cut short (its writer died) runs nothing.
 *
 * When the program's pipe is a FIFO (a sandbox started by builders/linux/launcher.ts) the waiter
 * sources it through /dev/fd: no process but the shell itself, and the job runs as soon as its
 * program's closing `}` arrives (the FIFO stays open until the sandbox ends: bwrap-launch.ts). A
 * socket (a gate spawned from the builder) cannot be reopened, so there it reads the program to
 * its end with `cat` and evals it.
 */
import { sandboxCwd } from './bwrap-args.ts';

/** Descriptors inside the sandbox: the job program arrives on `program`, `back` tells a bad cwd. */
export const WAITER_FD = { program: 7, back: 8 } as const;

/** What the waiter writes on `back` when the job's cwd cannot be entered. */
export const BAD_CWD = 'cwd';
/** What the waiter writes on `back` once it runs: the sandbox is set up. */
export const READY = 'ready';

/** The waiter: says it is ready, reads the program to its end (an empty one ends the sandbox), runs it. */
export const WAITER =
  `echo ${READY} >&${WAITER_FD.back}; ` +
  `if [ -p /dev/fd/${WAITER_FD.program} ]; then . /dev/fd/${WAITER_FD.program}; exit; fi; ` +
  `p=$(cat <&${WAITER_FD.program}) || exit 125; exec ${WAITER_FD.program}<&-; eval "$p"`;

/** A shell word that stands for exactly `s`. */
export function quote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * The program that turns the waiter into the job. `env` is the whole environment (already checked
 * by sandboxEnv: valid names, no NUL); the shell's own PWD and OLDPWD are dropped unless the job
 * sets them, so the command sees what bwrap's `--clearenv --setenv` would give it.
 */
export function jobProgram(argv: readonly string[], env: Record<string, string>, cwd: string): string {
  const lines = [
    '{',
    `cd -- ${quote(sandboxCwd(cwd))} 2>/dev/null || { echo ${BAD_CWD} >&${WAITER_FD.back}; exit 125; }`,
    'unset PWD OLDPWD',
    ...Object.entries(env).map(([k, v]) => `export ${k}=${quote(v)}`),
    `exec ${WAITER_FD.program}<&- ${WAITER_FD.back}>&-`,
    `exec ${argv.map(quote).join(' ')}`,
    '}',
  ];
  return `${lines.join('\n')}\n`;
}
