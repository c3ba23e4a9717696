/**
 * The usage rules of every pot command the double implements, each taken from the pot source
 * (bsdpot/pot, share/pot/<command>.sh, cited per command): the getopts string, the mandatory
 * options and the combinations the script refuses. `checkUsage` answers without touching any
 * state, so the contract test can run every command kiln issues through it.
 */
import { getopts, has, opt, opts } from './getopts.mjs';

/** bin/pot: aliases of command names. */
export const ALIASES = { ls: 'list', rollback: 'revert', snap: 'snapshot', 'set-attr': 'set-attribute' };

/** common.sh: `_POT_NETWORK_TYPES`. */
export const NETWORK_TYPES = ['inherit', 'alias', 'public-bridge', 'private-bridge'];
/** common.sh: `_POT_RW_ATTRIBUTES` (all bool) and `_POT_JAIL_RW_ATTRIBUTES` with `_POT_DEFAULT_<a>_T`. */
export const ATTRIBUTE_TYPES = {
  'start-at-boot': 'bool',
  'early-start-at-boot': 'bool',
  persistent: 'bool',
  'no-rc-script': 'bool',
  prunable: 'bool',
  'localhost-tunnel': 'bool',
  'no-tmpfs': 'bool',
  'no-etc-hosts': 'bool',
  enforce_statfs: 'uint',
  mount: 'bool',
  fdescfs: 'bool',
  linprocfs: 'bool',
  nullfs: 'bool',
  procfs: 'bool',
  tmpfs: 'bool',
  zfs: 'bool',
  raw_sockets: 'bool',
  sysvshm: 'sysvopt',
  sysvsem: 'sysvopt',
  sysvmsg: 'sysvopt',
  children: 'uint',
  mlock: 'bool',
  devfs_ruleset: 'uint',
  exec_stop: 'string',
  stop_timeout: 'uint',
};

/** common.sh `_normalize_true_false`. */
export function normalizeBool(v) {
  if (/^(yes|true|on)$/i.test(v)) return 'YES';
  if (/^(no|false|off)$/i.test(v)) return 'NO';
  return null;
}

/** network.sh `_validate_alias_ipaddr` for the ipv4 stack: "nic|a.b.c.d" or "a.b.c.d", space separated. */
function validAliasIp(value) {
  return value.split(' ').every((w) => {
    const ip = w.includes('|') ? w.slice(w.indexOf('|') + 1) : w;
    const nic = w.includes('|') ? w.slice(0, w.indexOf('|')) : 'ext';
    return (
      /^[a-z][a-z0-9]*$/.test(nic) &&
      /^(\d{1,3})(\.\d{1,3}){3}$/.test(ip) &&
      ip.split('.').every((o) => Number(o) < 256)
    );
  });
}

/** Each command: the getopts string of its script and the checks it makes before touching anything. */
export const COMMANDS = {
  /** create.sh: `getopts "hvp:t:N:i:l:b:f:P:d:B:S:k"`. */
  create: {
    optstring: 'hvp:t:N:i:l:b:f:P:d:B:S:k',
    check(p) {
      if (!opt(p, 'p')) return 'pot name is missing (option -p)';
      if (opt(p, 'p').includes('.'))
        return "not a valid name for a pot ('.' is the only character not allowed)";
      if (opt(p, 't') && !['single', 'multi'].includes(opt(p, 't')))
        return `type ${opt(p, 't')} not supported`;
      if (opt(p, 'b') && opt(p, 'P')) return '-b and -P are mutually exclusive';
      if (opt(p, 't') === 'single' && opt(p, 'l') && opt(p, 'l') !== '0')
        return 'single type pots are always level 0';
      return checkNetwork(p);
    },
  },
  /** clone.sh: `getopts "hvp:i:P:FN:B:S:f:ks:d:"`; -p and -P mandatory; -s and -F incompatible. */
  clone: {
    optstring: 'hvp:i:P:FN:B:S:f:ks:d:',
    check(p) {
      if (!opt(p, 'p')) return 'pot name is missing (option -p)';
      if (opt(p, 'p').includes('.'))
        return "not a valid name for a pot ('.' is the only character not allowed)";
      if (!opt(p, 'P')) return 'reference pot name is missing (option -P)';
      if (opt(p, 's') && has(p, 'F')) return '-s and -F are incompatible - which snapshot should I use';
      const dns = opt(p, 'd');
      if (dns && !/^(inherit|pot|off|custom:.+)$/.test(dns)) return `'${dns}' is not a valid dns option`;
      return checkNetwork(p);
    },
  },
  /** snapshot.sh: `getopts "hvp:f:r"`; exactly one of -p|-f. */
  snapshot: { optstring: 'hvp:f:r', check: oneOfPF },
  /** revert.sh: `getopts "hvp:f:"`; exactly one of -p|-f. */
  revert: { optstring: 'hvp:f:', check: oneOfPF },
  /** start.sh: `getopts "hvsSp:"`; the pot by -p or as the first operand. */
  start: { optstring: 'hvsSp:', check: (p) => (opt(p, 'p') || p.rest[0] ? null : 'A pot name is mandatory') },
  /** stop.sh: `getopts "hvp:i:s"`; the pot by -p or as the operand; -i and -s are internal. */
  stop: {
    optstring: 'hvp:i:s',
    check(p) {
      if (has(p, 'i') || has(p, 's')) return '-i and -s are for pot internal use only';
      return opt(p, 'p') || p.rest[0] ? null : 'A pot name is mandatory';
    },
  },
  /** destroy.sh: `getopts "hvrf:p:b:FB:q"`; one of -p|-b|-f|-B. */
  destroy: {
    optstring: 'hvrf:p:b:FB:q',
    check(p) {
      const which = ['p', 'b', 'f', 'B'].filter((c) => opt(p, c));
      if (which.length === 0) return '-b or -p or -f or -B are missing';
      if (which.length > 1) return '-b, -p, -f and -B cannot be used at the same time';
      return null;
    },
  },
  /** mount-in.sh: `getopts "hvf:d:z:p:m:wr"`; -p, -m and one of -f|-d|-z; -m absolute, not /. */
  'mount-in': {
    optstring: 'hvf:d:z:p:m:wr',
    check(p) {
      if (!opt(p, 'p')) return 'A pot name is mandatory';
      const src = ['f', 'd', 'z'].filter((c) => opt(p, c));
      if (src.length === 0) return 'One of -f|-d|-z option has to be used';
      if (src.length > 1) return `-${src[0]} and -${src[1]} options are mutually exclusive`;
      const m = opt(p, 'm');
      if (!m) return 'A mount point is mandatory';
      if (/\s/.test(m)) return 'The mountpoint cannot contain spaces';
      if (!m.startsWith('/')) return 'The mount point has to be an absolute pathname';
      if (m === '/') return '/ is not a valid mount point';
      if (has(p, 'w') && opt(p, 'd')) return 'Remount cannot be used with directories, but with fscomp only';
      return null;
    },
  },
  /** exec.sh: `getopts "hvdtp:e:u:U:"`; a command and -p mandatory; -u and -U exclusive; -e VAR=value. */
  exec: {
    optstring: 'hvdtp:e:u:U:',
    check(p) {
      if (p.rest.length === 0) return 'A command is mandatory';
      if (!opt(p, 'p')) return 'A pot name is mandatory';
      if (opt(p, 'u') && opt(p, 'U')) return 'Parameters -u and -U are mutually exclusive';
      for (const e of opts(p, 'e')) if (!e.includes('=')) return `${e} not in a valid form`;
      return null;
    },
  },
  /** list.sh: `getopts "hvbfFapqB"`; -b -p -f -F -B -a mutually exclusive, -a incompatible with -q. */
  /** config.sh: `getopts "hvqg:"`; -g one of `_config_names`. */
  config: {
    optstring: 'hvqg:',
    check(p) {
      const names = [
        'fs_root',
        'zfs_root',
        'gateway',
        'syslogd',
        'pot_prefix',
        'fscomp_prefix',
        'network_stack',
      ];
      if (opt(p, 'g') && !names.includes(opt(p, 'g'))) return `${opt(p, 'g')} is not a valid name`;
      return null;
    },
  },
  list: {
    optstring: 'hvbfFapqB',
    check(p) {
      const which = ['b', 'p', 'f', 'F', 'B', 'a'].filter((c) => has(p, c));
      if (which.length > 1) return 'Options -b -p -f -F -B -a are mutually exclusive';
      if (has(p, 'a') && has(p, 'q')) return '-a is incompatible with -q';
      return null;
    },
  },
  /** set-attribute.sh: `getopts "hvp:A:V:"`; -p, -A, -V mandatory; -A from the attribute lists; typed value. */
  'set-attribute': {
    optstring: 'hvp:A:V:',
    check(p) {
      if (!opt(p, 'p')) return 'A pot name is mandatory';
      if (!opt(p, 'A')) return 'Option -A is mandatory';
      if (!opt(p, 'V')) return 'Option -V is mandatory';
      const type = ATTRIBUTE_TYPES[opt(p, 'A')];
      if (!type) return `${opt(p, 'A')} is not a valid attribute`;
      const v = opt(p, 'V');
      if (type === 'bool' && !normalizeBool(v)) return `value ${v} is not a valid boolean value`;
      if (type === 'uint' && !/^\d+$/.test(v)) return `value ${v} is not a valid uint value`;
      if (type === 'sysvopt' && !['new', 'inherit', 'disable'].includes(v))
        return "value must be one of 'new', 'inherit', 'disable'";
      return null;
    },
  },
  /** set-rss.sh: `getopts "hvp:C:M:"`; -p and one of -C|-M; -M `^[0-9]+[bBkKmMgG]?$` > 0; -C natural > 0. */
  'set-rss': {
    optstring: 'hvp:C:M:',
    check(p) {
      if (!opt(p, 'p')) return 'A pot name is mandatory';
      const m = opt(p, 'M');
      if (m !== undefined && (!/^[0-9]+[bBkKmMgG]?$/.test(m) || /^0+[bBkKmMgG]?$/.test(m)))
        return `${m} is not a valid memory constraint`;
      if (!opt(p, 'C') && !m) return 'One resource has to be specified (-C or -M)';
      const c = opt(p, 'C');
      if (c !== undefined && !(/^\d+$/.test(c) && Number(c) > 0))
        return `${c} is a not valid amount of CPUs!`;
      return null;
    },
  },
  /** set-cmd.sh: `getopts "hvp:c:"`; -p and -c mandatory. */
  'set-cmd': {
    optstring: 'hvp:c:',
    check: (p) => (!opt(p, 'p') ? 'A pot name is mandatory' : !opt(p, 'c') ? 'A command is mandatory' : null),
  },
};

/** snapshot.sh / revert.sh: "-p|-f are exclusive", "one of -p|-f has to be used". */
function oneOfPF(p) {
  if (opt(p, 'p') !== undefined && opt(p, 'f') !== undefined) return '-p|-f are exclusive';
  if (!opt(p, 'p') && !opt(p, 'f')) return 'one of -p|-f has to be used';
  return null;
}

/** clone.sh / create.sh with network.sh `_validate_network_param` (ipv4 stack). */
function checkNetwork(p) {
  const type = opt(p, 'N');
  if (type !== undefined && !NETWORK_TYPES.includes(type)) return `Network type ${type} not recognized`;
  const stack = opt(p, 'S');
  if (stack !== undefined && !['ipv4', 'ipv6', 'dual'].includes(stack))
    return `Network stack ${stack} not valid`;
  const ip = opts(p, 'i').join(' ');
  if (type === 'alias') {
    if (!ip) return 'option -i is mandatory with network type is alias';
    if (ip === 'auto')
      return '-i auto not usable with network type alias - a real IP address has to be provided';
    if (!validAliasIp(ip)) return `${ip} is not a valid alias configuration`;
  }
  if (type === 'private-bridge' && !opt(p, 'B'))
    return 'private-bridge network type requires -B option, to specify which private bridge to use';
  if (type === 'public-bridge' || type === 'private-bridge') return 'the pot double has no VIMAGE (bridges)';
  return null;
}

/**
 * Parses and checks `pot <args>` as pot would before doing anything.
 * @returns {{ cmd: string, parsed: ReturnType<typeof getopts> } | { error: string, status: number }}
 */
export function checkUsage(args) {
  if (args.length === 0) return { error: 'usage: pot <command> [options]', status: 1 };
  const cmd = ALIASES[args[0]] ?? args[0];
  const spec = COMMANDS[cmd];
  if (!spec) return { error: `the pot double does not implement "${args[0]}"`, status: 2 };
  const parsed = getopts(args.slice(1), spec.optstring);
  if (parsed.error) return { error: parsed.error, status: 1 };
  if (has(parsed, 'h')) return { error: 'help requested', status: 0 };
  const problem = spec.check(parsed);
  if (problem) return { error: problem, status: 1 };
  return { cmd, parsed };
}
