/**
 * Wires the FreeBSD sandbox of a builder (`[sandbox] type = "pot"`): the host tools, the leases
 * (the builder's state file in its work directory, and Redis for every instance of the host), the
 * warm pool, ready before the builder registers, and the pot runner over it.
 */
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { RedisConn } from '../redis/connect.ts';
import type { BuilderConfig } from '../builders/core/config.ts';
import type { SandboxRunner } from '../builders/core/sandbox.ts';
import { createHostTools, DEFAULT_TOOL_PATHS } from '../builders/freebsd/host-tools.ts';
import { combinedLeases, fileLeaseStore } from '../builders/freebsd/leases.ts';
import { createPotPool, type PotPool } from '../builders/freebsd/pool.ts';
import { createPotRunner } from '../builders/freebsd/pot-runner.ts';
import { createRedisLeaseStore } from '../redis/pot-leases.ts';

export interface PotSandbox {
  runner: SandboxRunner;
  pool: PotPool;
}

/** The pool owner: the builder's name with every character a pot name part cannot hold as `_`. */
export const poolOwner = (name: string): string => name.replace(/[^A-Za-z0-9_]/g, '_');

export async function startPotSandbox(
  cfg: BuilderConfig,
  redis: RedisConn,
  log: (m: string) => void,
): Promise<PotSandbox> {
  const s = cfg.sandbox;
  const tools = createHostTools({
    pot: s.potPath ?? DEFAULT_TOOL_PATHS.pot,
    jail: s.jailPath ?? DEFAULT_TOOL_PATHS.jail,
    rctl: s.rctlPath ?? DEFAULT_TOOL_PATHS.rctl,
    pkill: s.pkillPath ?? DEFAULT_TOOL_PATHS.pkill,
    dmesg: s.dmesgPath ?? DEFAULT_TOOL_PATHS.dmesg,
    zfs: s.zfsPath ?? DEFAULT_TOOL_PATHS.zfs,
  });
  const owner = poolOwner(cfg.name);
  const pool = createPotPool({
    tools,
    leases: combinedLeases([
      fileLeaseStore(join(cfg.workDir, 'pot-pool', `${owner}.json`)),
      createRedisLeaseStore(redis, hostname(), cfg.redis.prefix),
    ]),
    owner,
    template: s.template ?? 'kiln-build',
    size: s.poolSize ?? cfg.slots,
    leaseMs: (s.potLeaseSec ?? 3600) * 1000,
    loopbackNet: s.loopbackNet ?? '127.0.2',
    ...(s.cpus ? { cpus: s.cpus } : {}),
    sweepMs: (s.sweepSec ?? 30) * 1000,
    log,
  });
  await pool.start();
  log(`pot pool ready: ${pool.states().length} jail(s) of ${s.template ?? 'kiln-build'}`);
  const runner = createPotRunner({
    tools,
    pool,
    log,
    ...(s.profilesDir ? { profilesDir: s.profilesDir } : {}),
  });
  return { runner, pool };
}
