/**
 * Every command line kiln gives pot and the FreeBSD base tools, built in one place so that the
 * contract test (test/freebsd/contract.test.ts) can check each form against pot's documented
 * usage. Each cites the pot script (bsdpot/pot share/pot/<command>.sh) or man page it follows.
 */

/** A host command: which tool, and its arguments. */
export interface ToolCall {
  tool: 'pot' | 'jail' | 'rctl' | 'pkill' | 'dmesg' | 'zfs';
  args: string[];
}

const pot = (...args: string[]): ToolCall => ({ tool: 'pot', args });

export const potCmd = {
  /** config.sh: `pot config -q -g zfs_root`: the dataset under which pot keeps `jails/<pot>`. */
  zfsRoot: () => pot('config', '-q', '-g', 'zfs_root'),
  /** list.sh: `pot list [-hpbfFa] [-qv]`, `ls` is its alias (bin/pot); -q prints one name a line. */
  list: () => pot('ls', '-q'),
  /**
   * clone.sh: `pot clone -p NEW -P TEMPLATE [-N network-type] [-i ipaddr]`; with `-N alias` the
   * address is mandatory, "nic|ip" puts the alias on that interface (network.sh
   * `_get_alias_ipv4`): on lo0 the jail sees a loopback address only.
   */
  clone: (name: string, template: string, ip: string) =>
    pot('clone', '-p', name, '-P', template, '-N', 'alias', '-i', `lo0|${ip}`),
  /** set-rss.sh: `pot set-rss -p pot -C cpus` (a cpuset of that many CPUs at start, start.sh `_js_rss`). */
  setCpus: (name: string, cpus: number) => pot('set-rss', '-p', name, '-C', String(cpus)),
  /** snapshot.sh: `pot snapshot -p pot`; refused while the pot runs. */
  snapshot: (name: string) => pot('snapshot', '-p', name),
  /** revert.sh: `pot revert -p pot`: every dataset back to its last snapshot; refused while running. */
  revert: (name: string) => pot('revert', '-p', name),
  /** start.sh: `pot start -p pot`; it always passes allow.raw_sockets to jail -c. */
  start: (name: string) => pot('start', '-p', name),
  /** stop.sh: `pot stop -p pot`: `jail -r`, then unmounts what fscomp.conf lists. */
  stop: (name: string) => pot('stop', '-p', name),
  /** destroy.sh: `pot destroy -F -p pot`: -F stops it first when it runs. */
  destroy: (name: string) => pot('destroy', '-F', '-p', name),
  /**
   * mount-in.sh: `pot mount-in -p pot -d dir -m mnt [-r]`: a host directory nullfs-mounted at
   * `mnt` (at once when the pot runs; the line goes to fscomp.conf, which `revert` takes back).
   */
  mountIn: (name: string, dir: string, mnt: string, readOnly: boolean) =>
    pot('mount-in', '-p', name, '-d', dir, '-m', mnt, ...(readOnly ? ['-r'] : [])),
  /**
   * exec.sh: `pot exec -p pot -U user COMMAND`: `jexec -l -U user pot env COMMAND`, so the
   * command runs as the jail's user with a login environment, which kiln's command wipes.
   */
  exec: (name: string, user: string, command: string[]) => pot('exec', '-p', name, '-U', user, ...command),
};

export const hostCmd = {
  /** jail(8) -m: changes a parameter of a running jail; start.sh leaves raw sockets allowed. */
  noRawSockets: (name: string): ToolCall => ({
    tool: 'jail',
    args: ['-m', `name=${name}`, 'allow.raw_sockets=0'],
  }),
  /**
   * rctl(8) -a: rules `subject:subject-id:resource:action=amount`, several in one call (rctl.c
   * main adds each operand in turn).
   */
  addRules: (name: string, rules: { resource: string; action: string; amount: number }[]): ToolCall => ({
    tool: 'rctl',
    args: ['-a', ...rules.map((r) => `jail:${name}:${r.resource}:${r.action}=${r.amount}`)],
  }),
  /** rctl(8) -r with a filter: every rule of the jail (pot stop does not remove them). */
  removeRules: (name: string): ToolCall => ({ tool: 'rctl', args: ['-r', `jail:${name}`] }),
  /** pkill(1) -j: every process of the jail (start.sh itself uses `pkill -j <pot>`). */
  signalAll: (name: string, signal: 'TERM' | 'KILL'): ToolCall => ({
    tool: 'pkill',
    args: [`-${signal}`, '-j', name],
  }),
  /**
   * zfs(8) `zfs set quota=<size> <dataset>`: the pot's datasets (clone.sh makes
   * `<zfs_root>/jails/<pot>/m`, its root file system) may hold no more than `mib` MiB; with the
   * template's `no-tmpfs`, the jail's /tmp is on it. pot itself has no quota attribute.
   */
  setQuota: (dataset: string, mib: number): ToolCall => ({
    tool: 'zfs',
    args: ['set', `quota=${mib}M`, dataset],
  }),
  /** dmesg(8): the kernel message buffer, where rctl's `log` action reports a rule that was hit. */
  messages: (): ToolCall => ({ tool: 'dmesg', args: ['-a'] }),
};

/**
 * The command run by `pot exec`: a shell moves to the working directory, then `env -i` replaces
 * the login environment by exactly the job's, so nothing of the jail's login class leaks in.
 */
export function jobCommand(cwd: string, env: Record<string, string>, argv: string[]): string[] {
  const assignments = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  const script = 'cd -- "$1" || exit 125; shift; exec /usr/bin/env -i "$@"';
  return ['/bin/sh', '-c', script, 'kiln-job', cwd, ...assignments, ...argv];
}
