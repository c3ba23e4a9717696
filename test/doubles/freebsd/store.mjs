/**
 * The double's state, kept as directories under $POT_FS_ROOT the way pot lays out its file system
 * (share/pot/common.sh: `${POT_FS_ROOT}/jails/<pot>/{conf/pot.conf,conf/fscomp.conf,m}`):
 *   jails/<pot>/m            the pot's root file system
 *   jails/<pot>/conf         pot.conf (key=value lines) and fscomp.conf (mount-in lines)
 *   jails/<pot>/.snap/<tag>  a snapshot (a copy of conf and m; pot uses `zfs snapshot -r`)
 *   .double/calls.log        one JSON line per call of any tool of the double
 *   .double/run/<pot>.json   a running jail: {jid, params}
 *   .double/rctl.json        rctl rules (they outlive the jail, as rctl rules do)
 *   .double/msgbuf           the kernel message buffer that `dmesg` prints
 * Jail processes live in a cgroup per pot (pids + memory), so `pkill -j` and `jail -r` can find
 * every one of them.
 */
import { createHash } from 'node:crypto';
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  rmdirSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';

/** The root every path of the double is under; the double refuses to run without it. */
export function fsRoot() {
  const root = process.env.POT_FS_ROOT;
  if (!root || !root.startsWith('/')) {
    process.stderr.write('pot double: set POT_FS_ROOT to an absolute directory of the test\n');
    process.exit(2);
  }
  return root;
}

export const potDir = (name) => join(fsRoot(), 'jails', name);
export const confFile = (name) => join(potDir(name), 'conf', 'pot.conf');
export const fscompFile = (name) => join(potDir(name), 'conf', 'fscomp.conf');
const stateDir = () => join(fsRoot(), '.double');

/** Appends one record of a call to the call log. */
export function logCall(tool, args) {
  mkdirSync(stateDir(), { recursive: true });
  appendFileSync(join(stateDir(), 'calls.log'), `${JSON.stringify({ t: Date.now(), tool, args })}\n`);
}

/** Prints an error the way pot's `_error` does and exits with `code`. */
export function fail(msg, code = 1) {
  process.stderr.write(`###>  ${msg}\n`);
  process.exit(code);
}

export const isPot = (name) => existsSync(confFile(name));

export function potNames() {
  const dir = join(fsRoot(), 'jails');
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((n) => isPot(n));
}

/** pot.conf as a map (the last line of a key wins, as `_get_conf_var` reads it with tail -n 1). */
export function readConf(name) {
  const map = new Map();
  for (const line of readFileSync(confFile(name), 'utf8').split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) map.set(line.slice(0, eq), line.slice(eq + 1).replace(/^"(.*)"$/, '$1'));
  }
  return map;
}

/** Sets `key=value` in pot.conf, dropping earlier lines of the key (pot: sed + echo). */
export function setConf(name, key, value) {
  const lines = readFileSync(confFile(name), 'utf8')
    .split('\n')
    .filter((l) => l && !l.startsWith(`${key}=`));
  lines.push(`${key}=${value}`);
  writeFileSync(confFile(name), `${lines.join('\n')}\n`);
}

/** fscomp.conf lines as {src, mnt, opt}. */
export function mounts(name) {
  if (!existsSync(fscompFile(name))) return [];
  return readFileSync(fscompFile(name), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [src, mnt, opt] = l.split(' ');
      return { src, mnt, opt };
    });
}

const runFile = (name) => join(stateDir(), 'run', `${name}.json`);

/** The running jail of a pot, or null. */
export function running(name) {
  try {
    return JSON.parse(readFileSync(runFile(name), 'utf8'));
  } catch {
    return null;
  }
}

export function setRunning(name, state) {
  mkdirSync(join(stateDir(), 'run'), { recursive: true });
  if (state === null) rmSync(runFile(name), { force: true });
  else writeFileSync(runFile(name), JSON.stringify(state));
}

const rctlFile = () => join(stateDir(), 'rctl.json');

/** @returns {string[]} every rctl rule, as text ("jail:p:memoryuse:deny=1048576"). */
export function rctlRules() {
  try {
    return JSON.parse(readFileSync(rctlFile(), 'utf8'));
  } catch {
    return [];
  }
}

export function setRctlRules(rules) {
  mkdirSync(stateDir(), { recursive: true });
  const tmp = `${rctlFile()}.${process.pid}`;
  writeFileSync(tmp, JSON.stringify(rules));
  renameSync(tmp, rctlFile());
}

export function appendMsgbuf(line) {
  mkdirSync(stateDir(), { recursive: true });
  appendFileSync(join(stateDir(), 'msgbuf'), `${line}\n`);
}

export function msgbuf() {
  try {
    return readFileSync(join(stateDir(), 'msgbuf'), 'utf8');
  } catch {
    return '';
  }
}

// ---- cgroups: where a jail's processes are (v1 pids + memory, or v2) ----

const CG = '/sys/fs/cgroup';
const v2 = () => existsSync(join(CG, 'cgroup.controllers'));

/** The cgroup directories of a pot's jail: [pids, memory] (one directory on cgroup v2). */
export function cgroupDirs(name) {
  const tag = createHash('sha1').update(fsRoot()).digest('hex').slice(0, 8);
  const rel = join('kiln-potdouble', `${tag}-${name}`);
  return v2() ? [join(CG, rel)] : [join(CG, 'pids', rel), join(CG, 'memory', rel)];
}

export function createCgroups(name) {
  if (v2()) {
    try {
      writeFileSync(join(CG, 'cgroup.subtree_control'), '+pids +memory');
      mkdirSync(join(CG, 'kiln-potdouble'), { recursive: true });
      writeFileSync(join(CG, 'kiln-potdouble', 'cgroup.subtree_control'), '+pids +memory');
    } catch {
      // already enabled, or not allowed: the limits below then fail loudly
    }
  }
  for (const d of cgroupDirs(name)) mkdirSync(d, { recursive: true });
}

/** Pids of every process in the pot's jail. */
export function jailPids(name) {
  const pids = new Set();
  for (const d of cgroupDirs(name)) {
    try {
      for (const p of readFileSync(join(d, 'cgroup.procs'), 'utf8').split('\n')) if (p) pids.add(Number(p));
    } catch {
      // no such group: no processes
    }
  }
  return [...pids];
}

/** Applies the jail's rctl rules to its cgroups: memoryuse:deny → memory limit, maxproc:deny → pids. */
export function applyLimits(name) {
  const dirs = cgroupDirs(name);
  if (!existsSync(dirs[0])) return;
  let mem = null;
  let procs = null;
  for (const r of rctlRules()) {
    const m = /^jail:([^:]+):(\w+):(\w+)=(\d+)$/.exec(r);
    if (!m || m[1] !== name || m[3] !== 'deny') continue;
    if (m[2] === 'memoryuse') mem = Number(m[4]);
    if (m[2] === 'maxproc') procs = Number(m[4]);
  }
  const [pidsDir, memDir = pidsDir] = dirs;
  writeFileSync(join(pidsDir, 'pids.max'), procs === null ? 'max' : String(procs));
  if (v2()) {
    writeFileSync(join(memDir, 'memory.max'), mem === null ? 'max' : String(mem));
    if (existsSync(join(memDir, 'memory.swap.max')))
      writeFileSync(join(memDir, 'memory.swap.max'), mem === null ? 'max' : '0');
  } else {
    writeFileSync(join(memDir, 'memory.limit_in_bytes'), mem === null ? '-1' : String(mem));
    try {
      writeFileSync(join(memDir, 'memory.memsw.limit_in_bytes'), mem === null ? '-1' : String(mem));
    } catch {
      // no swap accounting on this kernel
    }
  }
}

/** How many times the kernel's OOM killer acted in the pot's memory cgroup. */
export function oomKills(name) {
  const dirs = cgroupDirs(name);
  const file = v2() ? join(dirs[0], 'memory.events') : join(dirs[1], 'memory.oom_control');
  try {
    const m = /oom_kill (\d+)/.exec(readFileSync(file, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

export function removeCgroups(name) {
  for (const d of cgroupDirs(name)) {
    try {
      rmdirSync(d);
    } catch {
      // gone already
    }
  }
}
