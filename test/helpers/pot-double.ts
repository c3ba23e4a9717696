/**
 * A FreeBSD host stood in for by the test double (test/doubles/pot and its fellows, see
 * test/doubles/freebsd/README.md): a fresh POT_FS_ROOT, the kiln-build template made by
 * pot-templates/create-template.sh through the double, the tool paths for the runner, and the
 * double's call log.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { ToolPaths } from '../../builders/freebsd/host-tools.ts';

const run = promisify(execFile);
export const DOUBLES_DIR = fileURLToPath(new URL('../doubles/', import.meta.url));
export const TEMPLATES_DIR = fileURLToPath(new URL('../../pot-templates/', import.meta.url));

/** Why the double cannot run here, or false. */
export const potDoubleSkip: string | false =
  process.getuid?.() !== 0
    ? 'needs root'
    : !existsSync('/usr/bin/bwrap')
      ? 'needs bubblewrap'
      : !existsSync('/usr/bin/setpriv')
        ? 'needs setpriv (util-linux)'
        : false;

export const doubleToolPaths = (): ToolPaths => ({
  pot: join(DOUBLES_DIR, 'pot'),
  jail: join(DOUBLES_DIR, 'jail'),
  rctl: join(DOUBLES_DIR, 'rctl'),
  pkill: join(DOUBLES_DIR, 'pkill'),
  dmesg: join(DOUBLES_DIR, 'dmesg'),
  zfs: join(DOUBLES_DIR, 'zfs'),
});

export interface Call {
  t: number;
  tool: string;
  args: string[];
}

export interface PotHost {
  /** POT_FS_ROOT of the double (also set in this process's environment, which tools inherit). */
  root: string;
  /** A directory for job directories, reachable by the jail user. */
  work: string;
  calls(): Promise<Call[]>;
  /** Runs a double tool directly (tests that play another instance or tamper). */
  tool(name: keyof ToolPaths, ...args: string[]): Promise<string>;
  close(): Promise<void>;
}

/** Makes a stand-in host with the template pot `kiln-build`. */
export async function startPotHost(): Promise<PotHost> {
  const base = await mkdtemp(join(tmpdir(), 'kiln-pot-host-'));
  await chmod(base, 0o711);
  const root = join(base, 'pot');
  process.env.POT_FS_ROOT = root;
  const env = { ...process.env, PATH: `${DOUBLES_DIR}:${process.env.PATH}` };
  await run('sh', [join(TEMPLATES_DIR, 'create-template.sh'), '14.3', 'kiln-build'], { env });
  const paths = doubleToolPaths();
  const tool = async (name: keyof ToolPaths, ...args: string[]): Promise<string> =>
    (await run(paths[name], args, { env: process.env })).stdout;
  return {
    root,
    work: base,
    tool,
    async calls() {
      const text = await readFile(join(root, '.double', 'calls.log'), 'utf8').catch(() => '');
      return text
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Call);
    },
    async close() {
      const names = (await tool('pot', 'ls', '-q')).split('\n').filter(Boolean);
      await Promise.all(names.map((n) => tool('pot', 'stop', '-p', n).catch(() => '')));
      await rm(base, { recursive: true, force: true });
    },
  };
}
