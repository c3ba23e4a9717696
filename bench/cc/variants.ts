/**
 * The variants of one round, after the local build: distcc, ccache cold and warm, and kiln cold,
 * warm (same folder) and warm2 (another folder) on one fresh farm.
 */
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { startDevFarm, type DevFarm } from '../../wiring/dev-farm.ts';
import { WORK, kilnCompiler, kilnEnv, readKilnStats, whyLocal } from './kiln.ts';
import { ccacheCounts, ccacheZero, distccCounts, hasCcache, startDistccd } from './peers.ts';
import { baseEnv, cleanups, procCpuMs } from './proc.ts';
import type { Compiler } from './project.ts';
import type { Build, Variant } from './report.ts';
import { build, fresh, measured, record, reference, type Reference, type Round } from './runner.ts';

const LOCAL: Compiler = { launcher: [], cc: 'gcc' };
const KILN = kilnCompiler();

export async function distccRound(round: Round): Promise<void> {
  const { p, t, rep, o } = round;
  const d = await startDistccd(o.jobs);
  try {
    const env: NodeJS.ProcessEnv = { ...baseEnv(), DISTCC_HOSTS: d.hosts, DISTCC_DIR: d.clientDir };
    delete env.DISTCC_VERBOSE;
    const c: Compiler = { launcher: ['distcc'], cc: 'gcc' };
    await fresh(p, t, t.here, c, env);
    const cpu0 = await d.cpuMs();
    const r = await build(p, t, t.here, c, env, `distcc-${rep}`, o.jobs);
    const serverCpuMs = (await d.cpuMs()) - cpu0;
    const n = await distccCounts(d, r.log);
    const b = {
      ...measured('distcc', rep, t.here, r),
      serverCpuMs,
      remote: n.remote,
      fallbacks: n.fallbacks,
      ...(n.failed ? { detail: `${n.failed} failed on distccd` } : {}),
    };
    await record(round, b, r, round.here);
    if (!n.remote)
      round.problems.push(
        `${p.name} distcc #${rep}: distccd completed no compile: the distcc figure is a local build, meaningless`,
      );
    else if (n.fallbacks)
      round.notes.push(
        `${p.name} distcc #${rep}: ${n.fallbacks} compiles ran locally (distcc's own fallback: a remote failure, ` +
          `then it avoids the host for a while), ${n.remote} on distccd: its figure is mostly a local build's`,
      );
  } finally {
    await d.stop();
  }
}

/** ccache cold, then warm in the same folder after a clean. */
export async function ccacheRound(round: Round): Promise<void> {
  const { p, t, rep, o } = round;
  if (!(await hasCcache())) return;
  const env = { ...baseEnv(), CCACHE_DIR: join(WORK, `ccache-${p.name}`) };
  await rm(env.CCACHE_DIR, { recursive: true, force: true });
  const c: Compiler = { launcher: ['ccache'], cc: 'gcc' };
  await fresh(p, t, t.here, c, env);
  for (const variant of ['ccache cold', 'ccache warm'] as const) {
    if (variant === 'ccache warm') await p.clean(t.here, env);
    await ccacheZero(env);
    const r = await build(p, t, t.here, c, env, `${variant.replace(' ', '-')}-${rep}`, o.jobs);
    const n = await ccacheCounts(env);
    await record(
      round,
      { ...measured(variant, rep, t.here, r), hits: n.hits, detail: n.detail },
      r,
      round.here,
    );
  }
}

/** CPU so far of the farm's builder agents and redis, and of this process (the in-process gateway). */
async function farmCpuMs(farm: DevFarm): Promise<number> {
  const pids = [...farm.builders.map((b) => b.pid), farm.redis.child.pid].filter(
    (x): x is number => x !== undefined,
  );
  const own = process.cpuUsage();
  return (await procCpuMs(pids)) + own.user / 1000 + own.system / 1000;
}

/** One kiln build on `farm`: a clean tree for `kiln warm`, else a fresh copy at `dir`. */
async function kilnBuild(
  round: Round,
  farm: DevFarm,
  variant: Variant,
  dir: string,
  ref: Reference,
  note = '',
): Promise<Build> {
  const { p, t, rep, o } = round;
  const tag = `${variant.replace(' ', '-')}-${rep}`;
  const statsFile = join(t.logs, `${tag}-stats.json`);
  const env = { ...kilnEnv(farm, statsFile), KILN_CC_MANIFESTS: join(WORK, `manifests-${p.name}`) };
  if (variant === 'kiln warm') await p.clean(dir, env);
  else await fresh(p, t, dir, KILN, { ...env, KILN_STATS_FILE: join(t.logs, `${tag}-setup-stats.json`) });
  const s0 = await farmCpuMs(farm);
  const r = await build(p, t, dir, KILN, env, tag, o.jobs);
  const serverCpuMs = (await farmCpuMs(farm)) - s0;
  const s = await readKilnStats(statsFile);
  const detail = [whyLocal(s), note].filter(Boolean).join('; ');
  const b = {
    ...measured(variant, rep, dir, r),
    serverCpuMs,
    remote: s.remote,
    hits: s.cacheHits,
    ...(s.keepHits !== undefined ? { kept: s.keepHits } : {}),
    local: s.local,
    fallbacks: s.fallbacks,
    ...(detail ? { detail } : {}),
  };
  return record(round, b, r, ref);
}

/**
 * kiln cold, warm in the same folder, then warm in another folder (after an untimed local build
 * there, its reference), on one fresh farm; `then` runs on the farm before it stops.
 */
export async function kilnRound(round: Round, then: (farm: DevFarm) => Promise<void>): Promise<void> {
  const { p, t, rep, o } = round;
  const farm = await startDevFarm({ builders: 1, slots: o.jobs, port: 0 });
  cleanups.add(farm.stop);
  try {
    await rm(join(WORK, `manifests-${p.name}`), { recursive: true, force: true });
    await mkdir(join(WORK, 'empty-config'), { recursive: true });
    const cold = await kilnBuild(round, farm, 'kiln cold', t.here, round.here);
    const label = (b: Build): string => `${p.name} ${b.variant} #${rep}`;
    if (!cold.remote)
      round.problems.push(
        `${label(cold)}: NO compile ran on the farm (${cold.detail ?? 'no stats'}): meaningless`,
      );
    else if (cold.fallbacks)
      round.problems.push(`${label(cold)}: ${cold.fallbacks} fallbacks (${cold.detail})`);
    const warm = await kilnBuild(round, farm, 'kiln warm', t.here, round.here);
    await fresh(p, t, t.there, LOCAL, baseEnv());
    const lt = await build(p, t, t.there, LOCAL, baseEnv(), `local-in-another-folder-${rep}`, o.jobs);
    const there = await reference(t.there, lt.log);
    // Objects that name their folder (`__FILE__` of an absolute path, -g without a map) differ
    // between local builds in the two folders: each checkout compiles its own.
    const bound = [...there.objects].filter(([k, b]) => !round.here.objects.get(k)?.equals(b)).length;
    const note = bound ? `${bound} objects name their folder` : '';
    const warm2 = await kilnBuild(round, farm, 'kiln warm2', t.there, there, note);
    for (const [w, own] of [
      [warm, 0],
      [warm2, bound],
    ] as const) {
      if (!w.hits) round.problems.push(`${label(w)}: no action-cache hit (${w.detail ?? ''})`);
      else if (w.hits < (cold.remote ?? 0) - own)
        round.problems.push(
          `${label(w)}: ${w.hits} hits for ${cold.remote} compiles served cold` +
            (own ? ` (${own} of them name their folder)` : ''),
        );
    }
    await then(farm);
  } finally {
    cleanups.delete(farm.stop);
    await farm.stop();
  }
}
