/**
 * A test "host": a Debian root (an overlay over the cached debootstrap root, see ./debian-root.ts)
 * in its own mount and PID namespace, pivoted into (not chrooted: bwrap needs user namespaces,
 * which the kernel refuses a chrooted process), running its own OpenSSH sshd on a loopback port.
 * It shares this machine's network namespace, so it reaches the test farm on 127.0.0.1. Stopping it
 * kills the namespace's init, and with it every process of the host.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdir, readFile, rm, writeFile, copyFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

export interface SshHost {
  name: string;
  port: number;
  /** `[127.0.0.1]:port <key type> <key>` for known_hosts. */
  knownHostsLine: string;
  /** The host's writable layer (what it changed on top of the pristine root). */
  upper: string;
  stop(): Promise<void>;
}

export interface SshHostOptions {
  name: string;
  base: string;
  /** A directory for this host's layers (removed on stop). */
  dir: string;
  port: number;
  /** Public key allowed to log in as root. */
  authorizedKey: string;
  /** This machine's paths bound read-only into the root (`dest` defaults to `src`). */
  roBinds?: { src: string; dest?: string }[];
  /** Files written into the root before it starts (path inside → content, or content and mode). */
  files?: Record<string, string | { content: string; mode: number }>;
}

/** This machine's settings for reaching the Debian and npm registries (they belong to every machine here). */
const WORKPLACE_FILES = [
  '/etc/resolv.conf',
  '/etc/apt/apt.conf.d/99artifact-registry',
  '/etc/apt/sources.list.d/debian.sources',
];

const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
const run = promisify(execFile);

export async function startSshHost(o: SshHostOptions): Promise<SshHost> {
  const upper = join(o.dir, 'upper');
  const work = join(o.dir, 'work');
  const merged = join(o.dir, 'merged');
  for (const d of [upper, work, merged]) await mkdir(d, { recursive: true });
  const put = async (path: string, content: string | Buffer, mode = 0o644): Promise<void> => {
    await mkdir(dirname(join(upper, path)), { recursive: true });
    await writeFile(join(upper, path), content, { mode });
  };
  for (const f of WORKPLACE_FILES) if (existsSync(f)) await put(f, await readFile(f));
  if (existsSync('/etc/apt/sources.list.d/debian.sources')) await put('/etc/apt/sources.list', '');
  await put(
    '/etc/ssh/sshd_config.d/test-host.conf',
    [
      `Port ${o.port}`,
      'ListenAddress 127.0.0.1',
      'HostKey /etc/ssh/ssh_host_ed25519_key',
      'PermitRootLogin prohibit-password',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'MaxStartups 64:30:128',
      'MaxSessions 64',
      '',
    ].join('\n'),
  );
  await put('/root/.ssh/authorized_keys', o.authorizedKey.trim() + '\n', 0o600);
  await put('/etc/hostname', o.name + '\n');
  for (const [p, c] of Object.entries(o.files ?? {})) {
    await (typeof c === 'string' ? put(p, c) : put(p, c.content, c.mode));
  }
  // A host key of its own, made here so the test knows it before it connects. Only ed25519 (the
  // HostKey line above): an RSA key takes seconds of CPU to make, which a loaded machine stretches
  // to tens of seconds per host. Not execFileSync: the test's farm shares this event loop.
  await mkdir(join(upper, 'etc/ssh'), { recursive: true });
  const keyFile = join(upper, 'etc/ssh/ssh_host_ed25519_key');
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', o.name, '-f', keyFile]);
  const pub = (await readFile(`${keyFile}.pub`, 'utf8')).trim().split(/\s+/);
  const binds = (o.roBinds ?? [])
    .map(({ src, dest = src }) => {
      const at = q(merged + dest);
      const make = `mkdir -p ${q(merged + dirname(dest))}; if [ -d ${q(src)} ]; then mkdir -p ${at}; else touch ${at}; fi`;
      return `${make}; mount --bind ${q(src)} ${at}; mount -o remount,bind,ro ${at}`;
    })
    .join('\n');
  const script = `set -e
mount -t overlay overlay -o lowerdir=${q(o.base)},upperdir=${q(upper)},workdir=${q(work)} ${q(merged)}
${binds}
cd ${q(merged)}
mkdir -p .oldroot
pivot_root . .oldroot
cd /
mount -t proc proc /proc
mount --rbind /.oldroot/sys /sys
mount --rbind /.oldroot/dev /dev
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=755 tmpfs /run
umount -l /.oldroot
mkdir -p /run/sshd
hostname ${q(o.name)} 2>/dev/null || true
# sshd is the namespace's init: it reaps whatever is orphaned to it.
exec /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin /usr/sbin/sshd -D -e
`;
  // setpriv --pdeathsig: should the test's process die without stopping the host (a file's
  // timeout kills it), unshare is killed with it, and --kill-child takes the whole host along.
  const child: ChildProcess = spawn(
    'setpriv',
    [
      '--pdeathsig',
      'SIGKILL',
      'unshare',
      '--mount',
      '--uts',
      '--pid',
      '--fork',
      '--kill-child=SIGKILL',
      '--propagation',
      'private',
      'bash',
      '-c',
      script,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  await waitForPort(o.port, child, () => err);
  return {
    name: o.name,
    port: o.port,
    knownHostsLine: `[127.0.0.1]:${o.port} ${pub[0]} ${pub[1]}`,
    upper,
    async stop() {
      // unshare --fork ignores SIGTERM; SIGKILL it, and --kill-child takes the namespace's init along.
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
      await rm(o.dir, { recursive: true, force: true }).catch(() => undefined);
    },
  };
}

async function waitForPort(port: number, child: ChildProcess, err: () => string): Promise<void> {
  const { connect } = await import('node:net');
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`test host exited: ${err()}`);
    const ok = await new Promise<boolean>((r) => {
      const s = connect(port, '127.0.0.1');
      s.once('data', () => (s.destroy(), r(true)));
      s.once('error', () => r(false));
    });
    if (ok) return;
    if (i > 300) throw new Error(`sshd of the test host never answered on ${port}: ${err()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Copies a file into a host's writable layer before it starts (helper for callers). */
export async function seedFile(upper: string, path: string, from: string): Promise<void> {
  await mkdir(dirname(join(upper, path)), { recursive: true });
  await copyFile(from, join(upper, path));
}
