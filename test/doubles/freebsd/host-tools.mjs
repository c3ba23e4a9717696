/**
 * The FreeBSD base tools the pot runner calls beside pot, each only in the forms kiln uses and
 * refusing the rest (a refusal names the form the double does implement):
 *   jail(8)  `jail -m name=<jail>|jid=<n> allow.raw_sockets=0|1|false|true` (also allow.noraw_sockets)
 *   rctl(8)  `rctl -a rule...`, `rctl -r filter...`; rule = jail:<name>:<resource>:<action>=<amount>
 *   pkill(1) `pkill -<signal> -j <jail>` (the signal must come first; no pattern: -j is the criterion)
 *   dmesg(8) `dmesg [-a]`: the message buffer, where rctl's `log` action writes
 *   zfs(8)   `zfs set quota=<size>|none <dataset>`, the dataset a pot's (`<zfs_root>/jails/<pot>`,
 *            or its `m`); size as zfsprops(7) reads it (a number with an optional B K M G T P E
 *            suffix). The double records it in `jails/<pot>/zfs.quota`; it has no ZFS to enforce it.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as s from './store.mjs';

/** rctl(8) RESOURCES and ACTIONS. */
const RESOURCES = [
  'cputime',
  'datasize',
  'stacksize',
  'coredumpsize',
  'memoryuse',
  'memorylocked',
  'maxproc',
  'openfiles',
  'vmemoryuse',
  'pseudoterminals',
  'swapuse',
  'nthr',
  'msgqqueued',
  'msgqsize',
  'nmsgq',
  'nsem',
  'nsemop',
  'nshm',
  'shmsize',
  'wallclock',
  'pcpu',
  'readbps',
  'writebps',
  'readiops',
  'writeiops',
];
const ACTIONS = /^(deny|log|devctl|throttle|sig[a-z0-9]+)$/;
const SUFFIX = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5, e: 1024 ** 6 };

function jail(args) {
  const [mode, ...params] = args;
  if (mode !== '-m') s.fail('the jail double implements only `jail -m name=<jail> allow.raw_sockets=<bool>`');
  const id = params.find((x) => x.startsWith('name=') || x.startsWith('jid='));
  if (!id) s.fail('jail: -m needs the jid or name parameter');
  const name = id.slice(id.indexOf('=') + 1);
  const st = s.running(name);
  if (!st) s.fail(`jail: jail "${name}" not found`);
  for (const x of params.filter((p) => p !== id)) {
    const m = /^allow\.(no)?raw_sockets(?:=(0|1|true|false))?$/.exec(x);
    if (!m || (m[1] && m[2] !== undefined)) s.fail(`jail: the double does not implement parameter ${x}`);
    st.params['allow.raw_sockets'] = m[1]
      ? false
      : m[2] === undefined
        ? true
        : m[2] === '1' || m[2] === 'true';
  }
  s.setRunning(name, st);
}

function rctl(args) {
  const [mode, ...items] = args;
  if (!['-a', '-r'].includes(mode) || items.length === 0)
    s.fail('the rctl double implements only `rctl -a rule...` and `rctl -r filter...`');
  let rules = s.rctlRules();
  const touched = new Set();
  for (const item of items) {
    if (mode === '-a') {
      const m = /^jail:([^:]+):([a-z]+):([a-z0-9]+)=(\d+)([kmgtpe]?)(\/jail)?$/i.exec(item);
      if (!m) s.fail(`rctl: failed to parse rule "${item}"`);
      if (!RESOURCES.includes(m[2])) s.fail(`rctl: unknown resource "${m[2]}"`);
      if (!ACTIONS.test(m[3])) s.fail(`rctl: unknown action "${m[3]}"`);
      const rule = `jail:${m[1]}:${m[2]}:${m[3]}=${Number(m[4]) * SUFFIX[m[5].toLowerCase()]}`;
      if (!rules.includes(rule)) rules.push(rule);
      touched.add(m[1]);
    } else {
      const m = /^jail:([^:]+):?$/.exec(item);
      if (!m) s.fail(`the rctl double removes by jail filter only (jail:<name>), not "${item}"`);
      rules = rules.filter((r) => !r.startsWith(`jail:${m[1]}:`));
      touched.add(m[1]);
    }
  }
  s.setRctlRules(rules);
  for (const name of touched) if (s.running(name)) s.applyLimits(name);
}

const SIGNALS = { HUP: 1, INT: 2, QUIT: 3, KILL: 9, USR1: 10, USR2: 12, TERM: 15, CONT: 18, STOP: 19 };

function comm(pid) {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

function pkill(args) {
  let i = 0;
  let sig = 15;
  const first = args[0] ?? '';
  const name = first.replace(/^-/, '').toUpperCase().replace(/^SIG/, '');
  if (/^-\d+$/.test(first)) {
    sig = Number(first.slice(1));
    i++;
  } else if (first.startsWith('-') && SIGNALS[name]) {
    sig = SIGNALS[name];
    i++;
  }
  if (args[i] !== '-j' || !args[i + 1] || args.length !== i + 2)
    s.fail('the pkill double implements only `pkill -<signal> -j <jail>`');
  const jailName = args[i + 1];
  let hit = 0;
  for (const pid of s.jailPids(jailName)) {
    // bwrap's own processes stand for the jail itself here, not for its processes: a jail has none.
    if (sig !== 9 && comm(pid) === 'bwrap') continue;
    try {
      process.kill(pid, sig);
      hit++;
    } catch {
      // gone meanwhile
    }
  }
  process.exit(hit > 0 ? 0 : 1);
}

function dmesg(args) {
  if (args.some((a) => a !== '-a')) s.fail('the dmesg double implements only `dmesg [-a]`');
  process.stdout.write(s.msgbuf());
}

/** pot's `zfs_root` in the double (config.sh reads POT_ZFS_ROOT from pot.conf). */
export const zfsRoot = () => process.env.POT_ZFS_ROOT ?? 'zroot/pot';

function zfs(args) {
  const [verb, prop, dataset, ...more] = args;
  if (verb !== 'set' || !prop || !dataset || more.length)
    s.fail('the zfs double implements only `zfs set quota=<size> <dataset>`');
  const m = /^quota=(none|\d+(?:\.\d+)?[BKMGTPE]?)$/i.exec(prop);
  if (!m) s.fail(`cannot set property for '${dataset}': bad quota '${prop.slice(prop.indexOf('=') + 1)}'`);
  const d = new RegExp(`^${zfsRoot().replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/jails/([^/@]+)(/m)?$`).exec(
    dataset,
  );
  if (!d || !s.isPot(d[1])) s.fail(`cannot open '${dataset}': dataset does not exist`);
  writeFileSync(join(s.potDir(d[1]), 'zfs.quota'), `${m[1]}\n`);
}

export const HOST_TOOLS = { jail, rctl, pkill, dmesg, zfs };
