/**
 * What each pot command of the double does to its state, after pot-usage.mjs accepted the
 * arguments. Each follows the refusals of its script in bsdpot/pot share/pot/<command>.sh that
 * depend on state (pot exists, is running, has a snapshot). A "base" is the host's own system: the
 * jail's /usr is the host's /usr, read-only (see jail-exec.mjs).
 */
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { has, opt, opts } from './getopts.mjs';
import { ATTRIBUTE_TYPES, COMMANDS, normalizeBool } from './pot-usage.mjs';
import { execInJail } from './jail-exec.mjs';
import * as s from './store.mjs';
import { zfsRoot } from './host-tools.mjs';

const name = (p) => opt(p, 'p') ?? p.rest[0];

/** The skeleton of a "base": root-owned dirs, FreeBSD's /tmp mode, the accounts of a fresh base. */
function makeBase(m, release) {
  for (const d of ['etc', 'tmp', 'usr', 'var/run', 'root', 'home', 'dev', 'proc'])
    mkdirSync(join(m, d), { recursive: true });
  spawnSync('chmod', ['1777', join(m, 'tmp')]);
  for (const l of ['bin', 'sbin', 'lib', 'lib64']) symlinkSync(`usr/${l}`, join(m, l));
  writeFileSync(
    join(m, 'etc', 'passwd'),
    'root:*:0:0:Charlie &:/root:/bin/sh\nnobody:*:65534:65534:Unprivileged user:/nonexistent:/usr/sbin/nologin\n',
  );
  writeFileSync(join(m, 'etc', 'group'), 'wheel:*:0:root\nnogroup:*:65534:\n');
  writeFileSync(join(m, 'etc', 'freebsd-version'), `${release}-RELEASE\n`);
  if (existsSync('/etc/ld.so.cache')) copyFileSync('/etc/ld.so.cache', join(m, 'etc', 'ld.so.cache'));
}

/**
 * common-flv.sh `_exec_flv`: a flavour's command file runs its lines as pot commands (only those
 * `_is_cmd_flavorable` allows); its script runs inside the pot as root. FreeBSD's shell tools do
 * not exist here, so the double checks the script with `sh -n` and applies only what kiln relies
 * on: the accounts its `pw useradd` lines create.
 */
function applyFlavour(pot, flv, run) {
  const cmdFile = existsSync(flv) && !flv.endsWith('.sh') ? flv : null;
  const script = flv.endsWith('.sh') ? flv : existsSync(`${flv}.sh`) ? `${flv}.sh` : null;
  if (!cmdFile && !script) s.fail(`Flavour ${flv} not found`);
  const flavourable = [
    'add-dep',
    'set-attribute',
    'copy-in',
    'copy-in-flv',
    'mount-in',
    'set-rss',
    'export-ports',
    'set-cmd',
    'set-env',
  ];
  if (cmdFile) {
    for (const line of readFileSync(cmdFile, 'utf8').split('\n')) {
      if (!line.trim() || line.startsWith('#')) continue;
      const words = line.trim().split(/\s+/);
      if (!flavourable.includes(words[0])) s.fail(`Flavor ${flv}: line ${line} not valid`);
      if (words[0] === 'set-cmd') {
        // common-flv.sh _flv_set_cmd: only "set-cmd -c <rest of line>"
        if (!line.startsWith('set-cmd -c ')) s.fail("In flavour only 'set-cmd -c ' is supported");
        s.setConf(pot, 'pot.cmd', line.slice('set-cmd -c '.length));
        continue;
      }
      run([...words, '-p', pot]);
    }
  }
  if (script) {
    const r = spawnSync('sh', ['-n', script], { encoding: 'utf8' });
    if (r.status !== 0) s.fail(`create: flavour ${flv} failed (script): ${r.stderr}`);
    const m = join(s.potDir(pot), 'm');
    for (const line of readFileSync(script, 'utf8').split('\n')) {
      const u = /\bpw useradd\s+(?:-n\s+)?(\S+)((?:\s+-\S+\s+\S+)*)/.exec(line);
      if (!u) continue;
      const flag = (f) => new RegExp(`-${f}\\s+(\\S+)`).exec(u[2])?.[1];
      const uid = flag('u');
      const home = flag('d') ?? `/home/${u[1]}`;
      writeFileSync(
        join(m, 'etc', 'passwd'),
        `${u[1]}:*:${uid}:${flag('g') ?? uid}::${home}:${flag('s') ?? '/bin/sh'}\n`,
        { flag: 'a' },
      );
      mkdirSync(join(m, home), { recursive: true });
      spawnSync('chown', [`${uid}:${flag('g') ?? uid}`, join(m, home)]);
    }
  }
}

function snapshots(pot) {
  const dir = join(s.potDir(pot), '.snap');
  return existsSync(dir) ? readdirSync(dir).sort() : [];
}

/** `_pot_zfs_snap`: a recursive snapshot of the pot's datasets, tagged with the epoch (`date +%s`). */
function takeSnapshot(pot) {
  const tag = String(Math.floor(Date.now() / 1000));
  const dst = join(s.potDir(pot), '.snap', tag);
  if (existsSync(dst)) s.fail(`cannot create snapshot '${pot}@${tag}': dataset already exists`);
  mkdirSync(dst, { recursive: true });
  for (const d of ['conf', 'm'])
    cpSync(join(s.potDir(pot), d), join(dst, d), { recursive: true, verbatimSymlinks: true });
}

function stopJail(pot) {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const pids = s.jailPids(pot);
    if (pids.length === 0) break;
    if (Date.now() > deadline) s.fail(`jail ${pot}: processes ${pids.join(' ')} would not die`);
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    spawnSync('sleep', ['0.02']);
  }
  s.removeCgroups(pot);
  s.setRunning(pot, null);
}

export const EFFECTS = {
  create(p, run) {
    const pot = opt(p, 'p');
    if (s.isPot(pot)) s.fail(`pot ${pot} already exists`);
    if (opt(p, 't') !== 'single') s.fail('the pot double implements only -t single');
    if (!opt(p, 'b')) s.fail('the pot double creates pots from a base (-b) only');
    const dir = s.potDir(pot);
    mkdirSync(join(dir, 'conf'), { recursive: true });
    makeBase(join(dir, 'm'), opt(p, 'b'));
    const type = opt(p, 'N') ?? 'inherit';
    const lines = [
      `pot.level=0`,
      `pot.type=single`,
      `pot.base=${opt(p, 'b')}`,
      `pot.dns=${opt(p, 'd') ?? 'inherit'}`,
    ];
    lines.push(`host.hostname="${pot}"`, 'pot.stack=ipv4', `network_type=${type}`);
    if (type === 'alias') lines.push(`ip=${opts(p, 'i').join(' ')}`);
    writeFileSync(s.confFile(pot), `${lines.join('\n')}\n`);
    writeFileSync(s.fscompFile(pot), '');
    for (const f of opts(p, 'f')) applyFlavour(pot, f, run);
  },

  clone(p) {
    const pot = opt(p, 'p');
    const base = opt(p, 'P');
    if (!s.isPot(base)) s.fail(`reference pot ${base} not found`);
    if (s.isPot(pot)) s.fail(`pot ${pot} already exists`);
    const conf = s.readConf(base);
    if (conf.get('pot.level') === '0' && conf.get('pot.type') !== 'single')
      s.fail('Level 0 pots cannot be cloned');
    let snap = opt(p, 's') ?? snapshots(base).at(-1);
    if (opt(p, 's') && !snapshots(base).includes(snap)) s.fail(`snapshot ${snap} not found`);
    if (!snap) {
      if (!has(p, 'F')) s.fail(`${base} has no snap - please take a snapshot of ${base}`);
      takeSnapshot(base);
      snap = snapshots(base).at(-1);
    }
    const src = join(s.potDir(base), '.snap', snap);
    const dir = s.potDir(pot);
    mkdirSync(join(dir, 'conf'), { recursive: true });
    cpSync(join(src, 'm'), join(dir, 'm'), { recursive: true, verbatimSymlinks: true });
    copyFileSync(join(src, 'conf', 'fscomp.conf'), s.fscompFile(pot));
    // clone.sh _cj_conf: the base's pot.conf without its host name and network, then the new ones.
    const kept = readFileSync(join(src, 'conf', 'pot.conf'), 'utf8')
      .split('\n')
      .filter((l) => l && !/^(host.hostname|bridge|ip|vnet|network_type|pot.stack|pot.dns)/.test(l));
    const type = opt(p, 'N') ?? conf.get('network_type') ?? 'inherit';
    kept.push(`host.hostname="${pot}"`, 'pot.stack=ipv4', `network_type=${type}`);
    kept.push(type === 'inherit' ? 'vnet=false' : `vnet=false\nip=${opts(p, 'i').join(' ')}`);
    kept.push(`pot.dns=${opt(p, 'd') ?? conf.get('pot.dns') ?? 'inherit'}`);
    writeFileSync(s.confFile(pot), `${kept.join('\n')}\n`);
  },

  snapshot(p) {
    const pot = opt(p, 'p');
    if (!pot) s.fail('the pot double has no fscomp (-f)');
    if (!s.isPot(pot)) s.fail(`${pot} is not a pot!`);
    if (s.running(pot)) s.fail(`The pot ${pot} is still running. Snapshot is possible only for stopped pots`);
    takeSnapshot(pot);
  },

  revert(p) {
    const pot = opt(p, 'p');
    if (!pot) s.fail('the pot double has no fscomp (-f)');
    if (!s.isPot(pot)) s.fail(`${pot} is not a pot!`);
    if (s.running(pot)) s.fail(`The pot ${pot} is still running. Revert is possible only for stopped pots`);
    const last = snapshots(pot).at(-1);
    if (!last) return; // revert.sh: "has not snapshot - no possible rollback", and goes on
    const src = join(s.potDir(pot), '.snap', last);
    for (const d of ['conf', 'm']) {
      rmSync(join(s.potDir(pot), d), { recursive: true, force: true });
      cpSync(join(src, d), join(s.potDir(pot), d), { recursive: true, verbatimSymlinks: true });
    }
  },

  start(p) {
    const pot = name(p);
    if (!s.isPot(pot)) s.fail(`${pot} is not a pot`);
    if (s.running(pot)) return; // start.sh: "pot is already running", exit 0
    s.createCgroups(pot);
    // start.sh _js_start: allow.raw_sockets is always passed, whatever the attribute says.
    const conf = s.readConf(pot);
    const params = { 'allow.raw_sockets': true, persist: conf.get('pot.attr.persistent') !== 'NO' };
    s.setRunning(pot, { jid: 1 + (Date.now() % 100_000), params });
    // start.sh _js_rss: pot.rss.memory becomes `rctl -a jail:<pot>:memoryuse:deny=<memory>`.
    const mem = conf.get('pot.rss.memory');
    if (mem) {
      const rule = `jail:${pot}:memoryuse:deny=${mem}`;
      const rules = s.rctlRules();
      if (!rules.includes(rule)) s.setRctlRules([...rules, rule]);
    }
    s.applyLimits(pot);
  },

  stop(p) {
    const pot = name(p);
    if (!s.isPot(pot)) {
      process.stderr.write(`###>  The pot ${pot} is not a valid pot\n`);
      process.exit(0); // stop.sh exits 0 here
    }
    if (s.running(pot)) stopJail(pot);
  },

  destroy(p) {
    const pot = opt(p, 'p');
    if (!pot) s.fail('the pot double destroys pots (-p) only');
    if (!existsSync(s.potDir(pot))) s.fail(`pot ${pot} not found or corrupted. Try to use the -F flag`);
    if (s.running(pot)) {
      if (!has(p, 'F')) s.fail(`pot ${pot} is running`);
      stopJail(pot);
    }
    const users = s.potNames().filter((n) => n !== pot && s.readConf(n).get('pot.potbase') === pot);
    if (users.length && !has(p, 'r'))
      s.fail(`${pot} is used at least by another pot (${users[0]}) - use option -r`);
    rmSync(s.potDir(pot), { recursive: true, force: true });
  },

  'mount-in'(p) {
    const pot = opt(p, 'p');
    const dir = opt(p, 'd')?.replace(/\/$/, '');
    if (!dir) s.fail('the pot double mounts directories (-d) only');
    if (!existsSync(dir) || !statSync(dir).isDirectory()) s.fail(`${dir} is not a directory`);
    if (!s.isPot(pot)) s.fail(`pot ${pot} is not valid`);
    if (dir.startsWith(s.potDir(pot)))
      s.fail(`Directory ${dir} not valid, already used or already part of the pot`);
    const used = s.mounts(pot);
    if (used.some((m) => `${m.src} `.startsWith(`${dir} `)))
      s.fail(`Directory ${dir} not valid, already used or already part of the pot`);
    const mnt = opt(p, 'm');
    if (used.some((m) => m.mnt === mnt)) s.fail(`The mount point ${mnt} is already in use`);
    mkdirSync(join(s.potDir(pot), 'm', mnt), { recursive: true });
    writeFileSync(s.fscompFile(pot), `${dir} ${mnt}${has(p, 'r') ? ' ro' : ''}\n`, { flag: 'a' });
  },

  exec(p) {
    const pot = opt(p, 'p');
    if (!s.running(pot)) s.fail('The pot is not running');
    return execInJail(pot, { user: opt(p, 'U') ?? 'root', env: opts(p, 'e'), argv: p.rest });
  },

  config(p) {
    if (!has(p, 'q') || !['zfs_root', 'fs_root'].includes(opt(p, 'g')))
      s.fail('the pot double implements only `pot config -q -g zfs_root|fs_root`');
    process.stdout.write(`${opt(p, 'g') === 'zfs_root' ? zfsRoot() : s.fsRoot()}\n`);
  },

  list(p) {
    if (!has(p, 'q')) s.fail('the pot double lists with -q only');
    for (const n of s.potNames().sort()) process.stdout.write(`${n}\n`);
  },

  'set-attribute'(p) {
    const pot = opt(p, 'p');
    if (!s.isPot(pot)) s.fail(`${pot} is not a valid pot`);
    const v = opt(p, 'V');
    s.setConf(pot, `pot.attr.${opt(p, 'A')}`, ATTRIBUTE_TYPES[opt(p, 'A')] === 'bool' ? normalizeBool(v) : v);
  },

  'set-rss'(p) {
    const pot = opt(p, 'p');
    if (!s.isPot(pot)) s.fail(`${pot} is not a valid pot name`);
    if (opt(p, 'C')) s.setConf(pot, 'pot.rss.cpus', opt(p, 'C'));
    if (opt(p, 'M')) s.setConf(pot, 'pot.rss.memory', opt(p, 'M'));
  },

  'set-cmd'(p) {
    const pot = opt(p, 'p');
    if (!s.isPot(pot)) s.fail(`pot ${pot} is not valid`);
    s.setConf(pot, 'pot.cmd', opt(p, 'c'));
  },
};

// Every implemented command has its usage rules.
for (const c of Object.keys(EFFECTS)) if (!COMMANDS[c]) throw new Error(`no usage for ${c}`);
