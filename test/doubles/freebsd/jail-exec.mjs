/**
 * `pot exec` of the double: exec.sh runs `jexec -l [-U user] <pot> env [-e VAR=value...] COMMAND`,
 * and jexec(8) -l gives the command a login environment (HOME, SHELL, USER, TERM, the login class
 * PATH) and starts it in the user's home. Here the "jail" is a bubblewrap sandbox whose root is the
 * pot's m/ directory, with the host's /usr read-only standing in for the FreeBSD base, every
 * fscomp.conf line bound at its mount point, its own pid namespace, and, for an `alias` pot whose
 * addresses are all on lo0, a network namespace with only a loopback interface. The sandbox joins
 * the pot's cgroups first, so `pkill -j` and `jail -r` reach every process of it. The command runs
 * as the user's uid on the host, as a jail's processes do.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import * as s from './store.mjs';

function passwd(m, user) {
  for (const line of readFileSync(join(m, 'etc', 'passwd'), 'utf8').split('\n')) {
    const f = line.split(':');
    if (f[0] === user) return { uid: Number(f[2]), gid: Number(f[3]), home: f[5], shell: f[6] };
  }
  return s.fail(`jexec: ${user}: no such user`);
}

function networkArgs(conf) {
  const type = conf.get('network_type');
  if (type === 'inherit') return [];
  const ips = (conf.get('ip') ?? '').split(' ').filter(Boolean);
  if (type === 'alias' && ips.length > 0 && ips.every((i) => i.startsWith('lo0|127.')))
    return ['--unshare-net'];
  return s.fail(`the pot double runs alias pots on lo0 loopback addresses only (ip=${conf.get('ip')})`);
}

/** Runs the command in the pot's jail; resolves with the exit status pot exec returns. */
export function execInJail(pot, { user, env, argv }) {
  const m = join(s.potDir(pot), 'm');
  const conf = s.readConf(pot);
  const pw = passwd(m, user);
  if (pw.uid === 0) s.fail('the pot double does not run commands as root in a jail');
  const loginEnv = {
    HOME: pw.home,
    SHELL: pw.shell,
    USER: user,
    PATH: `/sbin:/bin:/usr/sbin:/usr/bin:/usr/local/sbin:/usr/local/bin:${pw.home}/bin`,
    ...(process.env.TERM ? { TERM: process.env.TERM } : {}),
  };
  const args = ['--unshare-user', '--unshare-pid', '--unshare-ipc', '--unshare-uts'];
  args.push('--hostname', conf.get('host.hostname') ?? pot, ...networkArgs(conf));
  args.push('--bind', m, '/', '--ro-bind', '/usr', '/usr', '--dev', '/dev', '--proc', '/proc');
  for (const mnt of s.mounts(pot)) args.push(mnt.opt === 'ro' ? '--ro-bind' : '--bind', mnt.src, mnt.mnt);
  args.push('--chdir', existsSync(join(m, pw.home)) ? pw.home : '/', '--clearenv');
  for (const [k, v] of Object.entries(loginEnv)) args.push('--setenv', k, v);
  args.push('--cap-drop', 'ALL', '--', '/usr/bin/env', ...env, ...argv);

  const procs = s.cgroupDirs(pot).map((d) => join(d, 'cgroup.procs'));
  const join1 = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"';
  const setpriv = ['setpriv', `--reuid=${pw.uid}`, `--regid=${pw.gid}`, '--clear-groups'];
  const before = s.oomKills(pot);
  const child = spawn(
    '/bin/sh',
    ['-c', join1, 'jexec', ...procs, '--', ...setpriv, '/usr/bin/bwrap', ...args],
    {
      stdio: 'inherit',
      env: { PATH: '/usr/bin:/bin' },
    },
  );
  return new Promise((resolve) => {
    child.once('error', (e) => s.fail(`jexec: ${e.message}`));
    child.once('exit', (code, sig) => {
      // rctl's `log` action prints this line (sys/kern/kern_rctl.c rctl_enforce) when a rule is hit.
      const rule = s.rctlRules().find((r) => r.startsWith(`jail:${pot}:memoryuse:log=`));
      if (rule && s.oomKills(pot) > before) {
        const comm = basename(argv.find((a) => !a.includes('=')) ?? 'sh').slice(0, 19);
        s.appendMsgbuf(
          `rctl: rule "${rule}" matched by pid ${child.pid} (${comm}), uid ${pw.uid}, jail ${pot}`,
        );
      }
      const signo = sig ? ({ SIGKILL: 9, SIGTERM: 15, SIGINT: 2, SIGHUP: 1 }[sig] ?? 6) : 0;
      resolve(code ?? 128 + signo);
    });
  });
}
