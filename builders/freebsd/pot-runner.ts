/**
 * The FreeBSD sandbox runner: each job in a jail of the warm pool (builders/freebsd/pool.ts). The
 * job directory is nullfs-mounted read-write at /job and each top-level directory of the toolchain
 * read-only at its own place (`pot mount-in`); the rctl rules of the profile carry the job's
 * memory and process limits; the command runs as the profile's unprivileged jail user with exactly
 * the job's environment; the jail has one loopback address and no raw sockets. Afterwards every
 * process of the jail is killed and the pot stopped before `run` resolves, and the pool reverts it
 * to its clean snapshot before the next job: nothing of one job reaches the next.
 */
import { readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { KilnError } from '../../protocol/errors.ts';
import { JOB_MOUNT, type SandboxRequest, type SandboxResult, type SandboxRunner } from '../core/sandbox.ts';
import { prepareJobDir } from '../linux/job-dir.ts';
import type { HostTools } from './host-tools.ts';
import { hostCmd, jobCommand, potCmd } from './pot-commands.ts';
import { stopPot } from './pot-lifecycle.ts';
import type { Pot, PotPool } from './pool.ts';
import { DEFAULT_POT_PROFILES_DIR, loadPotProfile, type PotProfile } from './profile.ts';
import { supervise } from './supervise.ts';

export interface PotRunnerOptions {
  tools: HostTools;
  pool: PotPool;
  /** Directory of pot profiles. @default pot-templates/ of this checkout */
  profilesDir?: string;
  log?: (msg: string) => void;
}

/** Toolchain entries the runner never mounts over: the jail's own. */
const RESERVED = new Set(['dev', 'proc', 'sys', 'tmp', 'job', 'run', 'var']);
/** Time a pot needs beyond the job's own limits (mounts, stop). */
const SETUP_MS = 60_000;

export function createPotRunner(o: PotRunnerOptions): SandboxRunner {
  const log = o.log ?? ((m: string) => console.warn(m));
  const profiles = new Map<string, Promise<PotProfile>>();
  const profile = (name: string): Promise<PotProfile> => {
    let p = profiles.get(name);
    if (!p) {
      p = loadPotProfile(name, o.profilesDir ?? DEFAULT_POT_PROFILES_DIR);
      p.catch(() => profiles.delete(name));
      profiles.set(name, p);
    }
    return p;
  };

  /**
   * rctl's `log` action reports a rule that was hit in the message buffer, naming the jail. Pot
   * names are never reused, so a pot's count starts at 0 and each job compares with the count after
   * the previous job in that pot.
   */
  const reportsSeen = new Map<string, number>();
  const memoryLimitHit = async (jail: string, prof: PotProfile): Promise<boolean> => {
    if (!prof.rctl.some((r) => r.resource === 'memoryuse' && r.action === 'log')) return false;
    const r = await o.tools.must(hostCmd.messages());
    const n = r.stdout.split('\n').filter((l) => l.includes(`rule "jail:${jail}:memoryuse:log=`)).length;
    const before = reportsSeen.get(jail) ?? 0;
    reportsSeen.set(jail, n);
    return n > before;
  };

  /** pot's zfs_root, asked once: the pots' datasets are `<zfs_root>/jails/<pot>`. */
  let zfsRoot: Promise<string> | undefined;
  const potDatasets = async (name: string): Promise<string> => {
    zfsRoot ??= o.tools.must(potCmd.zfsRoot()).then((r) => r.stdout.trim());
    zfsRoot.catch(() => (zfsRoot = undefined));
    return `${await zfsRoot}/jails/${name}`;
  };

  async function mountAll(pot: Pot, req: SandboxRequest, prof: PotProfile): Promise<void> {
    const jobDir = resolve(req.jobDir);
    await prepareJobDir(jobDir, prof.uid, prof.gid);
    // The jail's own file systems (its root, /tmp with the template's no-tmpfs) get the job's disk
    // limit; /job is a host directory (nullfs) and is not covered (docs/freebsd.md).
    await o.tools.must(hostCmd.setQuota(await potDatasets(pot.name), req.limits.diskMiB));
    const rules = prof.rctl.map((r) => ({
      ...r,
      amount: r.amount === 'memory' ? req.limits.memoryMiB * 1024 * 1024 : req.limits.pids,
    }));
    await o.tools.must(hostCmd.addRules(pot.name, rules));
    await o.tools.must(potCmd.mountIn(pot.name, jobDir, JOB_MOUNT, false));
    if (!req.rootDir) return;
    const root = resolve(req.rootDir);
    for (const e of await readdir(root, { withFileTypes: true })) {
      if (e.isDirectory() && !RESERVED.has(e.name))
        await o.tools.must(potCmd.mountIn(pot.name, join(root, e.name), `/${e.name}`, true));
    }
  }

  async function inPot(pot: Pot, req: SandboxRequest, prof: PotProfile): Promise<SandboxResult> {
    const t0 = performance.now();
    let drained: Promise<void> | undefined;
    let stopped = false;
    try {
      await mountAll(pot, req, prof);
      const cwd = req.cwd === '.' ? JOB_MOUNT : `${JOB_MOUNT}/${req.cwd}`;
      const command = jobCommand(cwd, { ...prof.env, ...req.env }, req.argv);
      const s = await supervise(o.tools, pot.name, potCmd.exec(pot.name, prof.user, command), req, log);
      drained = s.drained;
      await stopPot(o.tools, pot.name);
      stopped = true;
      const oomKilled = await memoryLimitHit(pot.name, prof);
      // Every process of the jail is dead, so the pipes reach their end; a bound keeps an oddity from hanging us.
      const bound = new AbortController();
      await Promise.race([drained, sleep(5000, undefined, { signal: bound.signal }).catch(() => undefined)]);
      bound.abort();
      const tail = s.errTail();
      if (s.exitCode === 125 && /cd: .*(can't|cannot|No such)/i.test(tail))
        throw new KilnError('ERR_VALIDATION', `the working directory ${req.cwd} does not exist in the job`);
      const potError = tail.split('\n').find((l) => l.startsWith('###>'));
      if (s.outcome === 'exited' && s.exitCode === 1 && potError)
        throw new KilnError('ERR_INTERNAL', `pot exec failed: ${potError.replace(/^###>\s*/, '')}`);
      const durationMs = Math.round(performance.now() - t0);
      return { outcome: s.outcome, exitCode: s.exitCode, signal: s.signal, oomKilled, durationMs };
    } finally {
      if (!stopped)
        await stopPot(o.tools, pot.name).catch((e: unknown) =>
          log(`stopping pot ${pot.name}: ${(e as Error).message}`),
        );
      o.pool.release(pot);
    }
  }

  async function run(req: SandboxRequest): Promise<SandboxResult> {
    const killed: SandboxResult = {
      outcome: 'killed',
      exitCode: null,
      signal: null,
      oomKilled: false,
      durationMs: 0,
    };
    if (req.signal.aborted) return killed;
    const prof = await profile(req.profile);
    if (req.argv[0]!.includes('='))
      throw new KilnError('ERR_VALIDATION', 'the command (argv[0]) must not contain "=" on FreeBSD builders');
    const minLife = (req.limits.timeoutSec + req.limits.graceSec) * 1000 + SETUP_MS;
    const pot = await o.pool.acquire(minLife, req.signal);
    if (!pot) return killed;
    if (req.signal.aborted) {
      await stopPot(o.tools, pot.name).catch(() => undefined);
      o.pool.release(pot);
      return killed;
    }
    return inPot(pot, req, prof);
  }

  return { name: 'pot', run };
}
