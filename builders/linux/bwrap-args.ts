/**
 * The bubblewrap command line for one job, as a pure function of the profile, the request and a
 * few host facts. Everything the sandbox may see is listed here; nothing else is mounted.
 */
import { posix } from 'node:path';
import { KilnError } from '../../protocol/errors.ts';
import { JOB_MOUNT, type SandboxRequest } from '../core/sandbox.ts';
import type { Profile } from './profile.ts';

/** One top-level entry of a toolchain root directory. */
export interface RootEntry {
  name: string;
  kind: 'dir' | 'file' | 'symlink';
  /** The link's target, for `symlink`. */
  target?: string;
}

/** Host facts the argv depends on (gathered by the runner). */
export interface BwrapHost {
  /** Host directory bound read-write at {@link JOB_MOUNT}. */
  jobDir: string;
  /** A toolchain tree to use as the read-only system instead of the host's. */
  root?: { dir: string; entries: readonly RootEntry[] };
  /** Descriptor bwrap writes its JSON status to (`--json-status-fd`). */
  statusFd?: number;
  /** Descriptor bwrap reads the seccomp program from (`--seccomp`). */
  seccompFd?: number;
  /**
   * Largest tmpfs, MiB: the job's memory limit, since tmpfs pages are charged to the job's memory
   * cgroup (a tmpfs without a size gets this one, a larger one is cut to it). @default no bound
   */
  tmpfsMaxMiB?: number;
  /** Host directory bound read-write at /tmp in place of a profile tmpfs there (on the job's disk). */
  tmpDir?: string;
}

/** Top-level names of a toolchain root that the runner mounts itself, so they are skipped. */
export const ROOT_SKIPPED: ReadonlySet<string> = new Set(['proc', 'dev', 'sys', 'tmp', 'job', 'run']);

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The sandbox's working directory for a request's relative `cwd`. */
export function sandboxCwd(cwd: string): string {
  if (cwd === '.' || cwd === '') return JOB_MOUNT;
  const bad = cwd.startsWith('/') || cwd.includes('\0') || cwd.split('/').includes('..');
  if (bad) throw new KilnError('ERR_VALIDATION', `cwd must be relative to the job directory: ${cwd}`);
  return posix.join(JOB_MOUNT, cwd);
}

/** The environment of the command: the job's env laid over the profile's base env. */
export function sandboxEnv(profile: Profile, env: Record<string, string>): Record<string, string> {
  const merged = { ...profile.env, ...env };
  for (const [k, v] of Object.entries(merged)) {
    if (!ENV_NAME.test(k)) throw new KilnError('ERR_VALIDATION', `invalid environment variable name: ${k}`);
    if (v.includes('\0')) throw new KilnError('ERR_VALIDATION', `environment variable ${k} contains NUL`);
  }
  return merged;
}

/** Read-only system mounts: the toolchain root's top-level entries, or the profile's host dirs. */
function systemArgs(profile: Profile, root: BwrapHost['root']): string[] {
  const a: string[] = [];
  if (root) {
    for (const e of root.entries) {
      if (ROOT_SKIPPED.has(e.name) || e.name.includes('/') || e.name === '.' || e.name === '..') continue;
      if (e.kind === 'symlink') a.push('--symlink', e.target ?? '', `/${e.name}`);
      else a.push('--ro-bind', posix.join(root.dir, e.name), `/${e.name}`);
    }
    return a;
  }
  for (const b of profile.hostSystem.roBind)
    a.push(b.optional ? '--ro-bind-try' : '--ro-bind', b.src, b.dest);
  for (const s of profile.hostSystem.symlinks) a.push('--symlink', s.target, s.path);
  return a;
}

/**
 * The argv after `bwrap` (bwrap's options, `--`, then the command).
 * @throws KilnError ERR_VALIDATION for a bad cwd, env or empty argv.
 */
export function bwrapArgs(
  profile: Profile,
  req: Pick<SandboxRequest, 'argv' | 'env' | 'cwd'>,
  host: BwrapHost,
): string[] {
  if (req.argv.length === 0) throw new KilnError('ERR_VALIDATION', 'argv must not be empty');
  if (req.argv.some((s) => s.includes('\0'))) throw new KilnError('ERR_VALIDATION', 'argv contains NUL');
  const a: string[] = [];
  for (const ns of profile.unshare) a.push(`--unshare-${ns}`);
  if (profile.unshare.includes('user')) a.push('--disable-userns');
  a.push('--die-with-parent', '--new-session', '--cap-drop', 'ALL');
  if (profile.unshare.includes('uts')) a.push('--hostname', profile.hostname);
  a.push(...systemArgs(profile, host.root));
  a.push('--proc', '/proc', '--dev', '/dev');
  for (const t of profile.tmpfs) {
    if (t.path === '/tmp' && host.tmpDir !== undefined) {
      a.push('--bind', host.tmpDir, '/tmp');
      continue;
    }
    const max = host.tmpfsMaxMiB ?? Infinity;
    const mib = Math.min(t.sizeMiB ?? max, max);
    if (Number.isFinite(mib)) a.push('--size', String(mib * 1024 * 1024));
    a.push('--tmpfs', t.path);
  }
  a.push('--bind', host.jobDir, JOB_MOUNT);
  // bwrap's own root is a tmpfs the job's uid owns; make it read-only once everything is mounted.
  a.push('--remount-ro', '/');
  a.push('--chdir', sandboxCwd(req.cwd));
  a.push('--clearenv');
  for (const [k, v] of Object.entries(sandboxEnv(profile, req.env))) a.push('--setenv', k, v);
  if (host.statusFd !== undefined) a.push('--json-status-fd', String(host.statusFd));
  if (host.seccompFd !== undefined) a.push('--seccomp', String(host.seccompFd));
  a.push('--', ...req.argv);
  return a;
}
