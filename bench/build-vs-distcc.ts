/**
 * Real C projects from Debian sources, each built seven ways on this machine, side by side in one
 * run, with the same parallelism (bench/cc/: lua.ts, json-c.ts, gzip.ts say how each is built):
 *
 * - lua:    Lua 5.4, its own Makefile (-O2)
 * - json-c: CMake + Ninja through CMAKE_C_COMPILER_LAUNCHER, Release, its own -Werror -Wextra
 * - gzip:   autotools make with Debian's CFLAGS (-g -O2 -ffile-prefix-map=<tree>=.)
 *
 * The variants, every one in the same folder unless said:
 * - local:       the compiler itself
 * - distcc:      distcc in front, to a distccd on 127.0.0.1 with N slots
 * - ccache cold / ccache warm: ccache in front with an empty cache, then again after a clean
 *                (the warm peer: a local disk cache, direct mode)
 * - kiln cold:   kiln in front (the native front by default) against a fresh local farm (1 builder,
 *                N slots; no toolchain preset, so the builder uses the host gcc)
 * - kiln warm:   the same farm again after a clean (direct-mode hits)
 * - kiln warm2:  the same farm on a fresh copy in ANOTHER folder (another path length)
 *
 * Each build is timed as a whole (configure is not: it runs before, untimed). Its objects are
 * compared with a local build's in the same folder, the compiler diagnostics in its log with the
 * local build's, and the project's own checks run on it (the whole test suite on the local and
 * kiln builds of the first round, a quick check elsewhere). A distcc or kiln figure where nothing
 * was distributed is reported as meaningless and the bench exits 1, as it does for any difference
 * from local. When kiln cold misses its target on Lua, one compile is profiled step by step.
 *
 *   npm run bench:cc -- [--project lua,json-c,gzip] [--jobs N] [--repeat R] [--quick] [--profile | --no-profile]
 *
 * --project P  the projects to build, comma-separated. @default lua,json-c,gzip
 * --jobs N     build -jN, distccd --jobs N, builder slots N. @default 2
 * --repeat R   builds per variant; the tables show medians. @default 3
 * --quick      only the quick checks, never the test suites.
 * --profile    always profile one Lua compile; --no-profile never does.
 *
 * KILN_BENCH_CC: the kiln variants' compiler command (bench/cc/kiln.ts).
 *
 * Files: bench/.work/<package>/ (the download, reused; the upstream tree extracted once),
 * bench/.work/runs/<project>/ (the trees of the last builds and every build's log, kept for
 * inspection until the next run).
 */
import { mkdir, readFile, rm } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { startDevFarm, type DevFarm } from '../wiring/dev-farm.ts';
import { debianSource } from './cc/debian-source.ts';
import { gzipProject } from './cc/gzip.ts';
import { jsonC } from './cc/json-c.ts';
import { KILN_CC, WORK, kilnCompiler, kilnEnv, readKilnStats, whyLocal } from './cc/kiln.ts';
import { lua } from './cc/lua.ts';
import { ccacheCounts, ccacheZero, distccCounts, hasCcache, startDistccd } from './cc/peers.ts';
import { profileCompile } from './cc/profile.ts';
import { baseEnv, cleanups, machineCpuMs, median, must, procCpuMs, run, timed } from './cc/proc.ts';
import { diagnostics, objects, sameCount, type Compiler, type Project } from './cc/project.ts';
import { COLD_TARGET, CPU_NOTE, line, summary, type Build, type Variant } from './cc/report.ts';

// ---------------------------------------------------------------------------------------------
// Options

function intFlag(name: string, dflt: number): number {
  const i = process.argv.indexOf(name);
  if (i < 0) return dflt;
  const n = Number(process.argv[i + 1]);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} needs a whole number ≥ 1`);
  return n;
}

const JOBS = intFlag('--jobs', 2);
const REPEAT = intFlag('--repeat', 3);
const QUICK = process.argv.includes('--quick');
const PROFILE: 'auto' | 'always' | 'never' = process.argv.includes('--no-profile')
  ? 'never'
  : process.argv.includes('--profile')
    ? 'always'
    : 'auto';
const PROJECTS: Record<string, Project> = { lua, 'json-c': jsonC, gzip: gzipProject(WORK) };
const chosen = (() => {
  const i = process.argv.indexOf('--project');
  const names = i < 0 ? Object.keys(PROJECTS) : (process.argv[i + 1] ?? '').split(',').filter(Boolean);
  const bad = names.filter((n) => !PROJECTS[n]);
  if (bad.length || !names.length)
    throw new Error(
      `--project takes some of ${Object.keys(PROJECTS).join(',')} (got ${bad.join(',') || 'none'})`,
    );
  return names.map((n) => PROJECTS[n]!);
})();

const LOCAL: Compiler = { launcher: [], cc: 'gcc' };
const KILN = kilnCompiler();

// ---------------------------------------------------------------------------------------------
// One build

interface Ran {
  wallMs: number;
  cpuMs: number;
  machineCpuMs: number;
  load: number;
  log: string;
}

/** A project's trees: every variant in `here`, except kiln warm2 in `there` (another path length). */
interface Trees {
  upstream: string;
  here: string;
  there: string;
  logs: string;
}

async function fresh(p: Project, t: Trees, dir: string, c: Compiler, env: NodeJS.ProcessEnv): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(join(dir, '..'), { recursive: true });
  await must('cp', ['-a', t.upstream, dir]);
  await p.setup(dir, c, env);
}

async function build(
  p: Project,
  t: Trees,
  dir: string,
  c: Compiler,
  env: NodeJS.ProcessEnv,
  name: string,
): Promise<Ran> {
  const log = join(t.logs, `${name}.log`);
  const cmd = p.build(dir, c, JOBS);
  const load = loadavg()[0]!;
  const m0 = await machineCpuMs();
  const r = await timed(cmd.cmd, cmd.args, { cwd: cmd.cwd, env, log });
  const m1 = await machineCpuMs();
  const text = await readFile(log, 'utf8').catch(() => '');
  if (r.code !== 0)
    throw new Error(`${p.name} ${name}: build failed (exit ${r.code}) in ${dir}:\n${text.slice(-3000)}`);
  return { wallMs: r.wallMs, cpuMs: r.cpuMs, machineCpuMs: m1 - m0, load, log: text };
}

/** What a build is compared with: a local build's objects, diagnostics and check output, in one folder. */
interface Reference {
  objects: Map<string, Buffer>;
  diagnostics: string[];
}

async function reference(dir: string, log: string): Promise<Reference> {
  return { objects: await objects(dir), diagnostics: diagnostics(log, dir) };
}

function diagDiff(got: string[], ref: string[]): string {
  if (got.join('\n') === ref.join('\n')) return '=';
  const extra = got.filter((l) => !ref.includes(l)).length;
  const missing = ref.filter((l) => !got.includes(l)).length;
  return `DIFFERS (${got.length} lines vs local ${ref.length}: ${extra} not local, ${missing} missing)`;
}

// ---------------------------------------------------------------------------------------------
// One project

async function benchProject(p: Project, problems: string[], notes: string[]): Promise<Build[]> {
  const { dir: upstream, version } = await debianSource(WORK, p.package, p.marker);
  const root = join(WORK, 'runs', p.name);
  const t: Trees = {
    upstream,
    here: join(root, 'tree'),
    there: join(root, 'in-another-folder', 'tree'),
    logs: join(root, 'logs'),
  };
  await rm(root, { recursive: true, force: true });
  await mkdir(t.logs, { recursive: true });
  console.log(`\n== ${p.name} ${version} (${p.package}): ${p.describe.replace('-jN', `-j${JOBS}`)}`);

  // Warm-up, untimed: page cache for the compiler and the tree.
  await fresh(p, t, t.here, LOCAL, baseEnv());
  await build(p, t, t.here, LOCAL, baseEnv(), 'warmup');

  const builds: Build[] = [];
  let localOutput: string | null = null;
  const record = async (b: Omit<Build, 'same' | 'diag' | 'check'>, r: Ran, ref: Reference): Promise<void> => {
    const full = !QUICK && b.rep === 1 && (b.variant === 'local' || b.variant.startsWith('kiln'));
    const c = await p.check(b.dir, full);
    if (b.variant === 'local' && localOutput === null) localOutput = c.output;
    const check = !c.ok
      ? `FAILED: ${c.text}`
      : c.output !== localOutput
        ? 'FAILED: output differs from local'
        : `ok (${c.text})`;
    const same = b.variant === 'local' ? undefined : sameCount(await objects(b.dir), ref.objects);
    const diag = diagDiff(diagnostics(r.log, b.dir), ref.diagnostics);
    const done: Build = { ...b, check, diag, ...(same ? { same } : {}) };
    const label = `${p.name} ${b.variant} #${b.rep}`;
    if (!check.startsWith('ok')) problems.push(`${label}: the project's check failed: ${check}`);
    if (diag !== '=') problems.push(`${label}: compiler diagnostics ${diag}`);
    if (same && b.variant !== 'distcc') {
      const [n, m] = same.split('/');
      if (n !== m)
        problems.push(`${label}: only ${same} objects byte-identical to a local build in the same folder`);
    }
    builds.push(done);
    const localMs = builds.find((x) => x.variant === 'local' && x.rep === b.rep)?.wallMs ?? null;
    console.log(`[${b.rep}/${REPEAT}] ${line(done, localMs)}`);
  };
  const base = (variant: Variant, rep: number, dir: string, r: Ran) => ({
    variant,
    rep,
    dir,
    wallMs: r.wallMs,
    cpuMs: r.cpuMs,
    machineCpuMs: r.machineCpuMs,
    load: r.load,
  });

  for (let rep = 1; rep <= REPEAT; rep++) {
    await fresh(p, t, t.here, LOCAL, baseEnv());
    const l = await build(p, t, t.here, LOCAL, baseEnv(), `local-${rep}`);
    const here = await reference(t.here, l.log);
    await record(base('local', rep, t.here, l), l, here);

    // distcc
    const d = await startDistccd(JOBS);
    try {
      const env: NodeJS.ProcessEnv = { ...baseEnv(), DISTCC_HOSTS: d.hosts, DISTCC_DIR: d.clientDir };
      delete env.DISTCC_VERBOSE;
      const c: Compiler = { launcher: ['distcc'], cc: 'gcc' };
      await fresh(p, t, t.here, c, env);
      const cpu0 = await d.cpuMs();
      const r = await build(p, t, t.here, c, env, `distcc-${rep}`);
      const serverCpuMs = (await d.cpuMs()) - cpu0;
      const n = await distccCounts(d, r.log);
      await record(
        {
          ...base('distcc', rep, t.here, r),
          serverCpuMs,
          remote: n.remote,
          fallbacks: n.fallbacks,
          ...(n.failed ? { detail: `${n.failed} failed on distccd` } : {}),
        },
        r,
        here,
      );
      if (!n.remote)
        problems.push(
          `${p.name} distcc #${rep}: distccd completed no compile: the distcc figure is a local build, meaningless`,
        );
      else if (n.fallbacks)
        notes.push(
          `${p.name} distcc #${rep}: ${n.fallbacks} compiles ran locally (distcc's own fallback: a remote failure, ` +
            `then it avoids the host for a while), ${n.remote} on distccd: its figure is mostly a local build's`,
        );
    } finally {
      await d.stop();
    }

    // ccache: cold, then warm in the same folder
    if (await hasCcache()) {
      const env = { ...baseEnv(), CCACHE_DIR: join(WORK, `ccache-${p.name}`) };
      await rm(env.CCACHE_DIR, { recursive: true, force: true });
      const c: Compiler = { launcher: ['ccache'], cc: 'gcc' };
      await fresh(p, t, t.here, c, env);
      for (const variant of ['ccache cold', 'ccache warm'] as const) {
        if (variant === 'ccache warm') await p.clean(t.here, env);
        await ccacheZero(env);
        const r = await build(p, t, t.here, c, env, `${variant.replace(' ', '-')}-${rep}`);
        const n = await ccacheCounts(env);
        await record({ ...base(variant, rep, t.here, r), hits: n.hits, detail: n.detail }, r, here);
      }
    }

    // kiln: cold, warm in the same folder, warm in another folder, on one fresh farm
    const farm = await startDevFarm({ builders: 1, slots: JOBS, port: 0 });
    cleanups.add(farm.stop);
    try {
      const manifests = join(WORK, `manifests-${p.name}`);
      await rm(manifests, { recursive: true, force: true });
      await mkdir(join(WORK, 'empty-config'), { recursive: true });
      const kiln = async (variant: Variant, dir: string, ref: Reference, note = ''): Promise<Build> => {
        const tag = `${variant.replace(' ', '-')}-${rep}`;
        const statsFile = join(t.logs, `${tag}-stats.json`);
        const env = { ...kilnEnv(farm, statsFile), KILN_CC_MANIFESTS: manifests };
        if (variant === 'kiln warm') await p.clean(dir, env);
        else
          await fresh(p, t, dir, KILN, { ...env, KILN_STATS_FILE: join(t.logs, `${tag}-setup-stats.json`) });
        const s0 = await farmCpuMs(farm);
        const r = await build(p, t, dir, KILN, env, tag);
        const serverCpuMs = (await farmCpuMs(farm)) - s0;
        const s = await readKilnStats(statsFile);
        const detail = [whyLocal(s), note].filter(Boolean).join('; ');
        await record(
          {
            ...base(variant, rep, dir, r),
            serverCpuMs,
            remote: s.remote,
            hits: s.cacheHits,
            local: s.local,
            fallbacks: s.fallbacks,
            ...(detail ? { detail } : {}),
          },
          r,
          ref,
        );
        return builds[builds.length - 1]!;
      };
      const cold = await kiln('kiln cold', t.here, here);
      if (!cold.remote)
        problems.push(
          `${p.name} kiln cold #${rep}: NO compile ran on the farm (${cold.detail ?? 'no stats'}): meaningless`,
        );
      else if (cold.fallbacks)
        problems.push(`${p.name} kiln cold #${rep}: ${cold.fallbacks} fallbacks (${cold.detail})`);
      const warm = await kiln('kiln warm', t.here, here);
      // The reference for the other folder: a local build there, untimed; then a fresh copy.
      await fresh(p, t, t.there, LOCAL, baseEnv());
      const lt = await build(p, t, t.there, LOCAL, baseEnv(), `local-in-another-folder-${rep}`);
      const there = await reference(t.there, lt.log);
      // Objects that name their folder (`__FILE__` of an absolute path, -g without a map) differ
      // between local builds in the two folders: each checkout compiles its own.
      const bound = [...there.objects].filter(([k, b]) => !here.objects.get(k)?.equals(b)).length;
      const warm2 = await kiln(
        'kiln warm2',
        t.there,
        there,
        bound ? `${bound} objects name their folder` : '',
      );
      for (const [w, own] of [
        [warm, 0],
        [warm2, bound],
      ] as const) {
        if (!w.hits) problems.push(`${p.name} ${w.variant} #${rep}: no action-cache hit (${w.detail ?? ''})`);
        else if (w.hits < (cold.remote ?? 0) - own)
          problems.push(
            `${p.name} ${w.variant} #${rep}: ${w.hits} hits for ${cold.remote} compiles served cold` +
              (own ? ` (${own} of them name their folder)` : ''),
          );
      }
      if (p === lua && rep === REPEAT) {
        const localMed = median(builds.filter((b) => b.variant === 'local').map((b) => b.wallMs));
        const slow = median(builds.filter((b) => b.variant === 'kiln cold').map((b) => b.wallMs)) / localMed;
        if (PROFILE === 'always' || (PROFILE === 'auto' && slow > COLD_TARGET))
          await profileCompile(farm, t.here);
      }
    } finally {
      cleanups.delete(farm.stop);
      await farm.stop();
    }
  }
  return builds;
}

/** CPU so far of the farm's builder agents and redis, and of this process (the in-process gateway). */
async function farmCpuMs(farm: DevFarm): Promise<number> {
  const pids = [...farm.builders.map((b) => b.pid), farm.redis.child.pid].filter(
    (x): x is number => x !== undefined,
  );
  const own = process.cpuUsage();
  return (await procCpuMs(pids)) + own.user / 1000 + own.system / 1000;
}

// ---------------------------------------------------------------------------------------------
// Main

async function main(): Promise<void> {
  const first = async (cmd: string): Promise<string> =>
    (await run(cmd, ['--version'])).stdout.split('\n')[0] ?? '?';
  const ccache = (await hasCcache()) ? await first('ccache') : 'no ccache';
  console.log(
    `kiln bench/build-vs-distcc: ${chosen.map((p) => p.name).join(', ')}; -j${JOBS}, ${REPEAT} build(s) per variant`,
  );
  console.log(
    `machine: ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), load ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}; ${await first('gcc')}; ${await first('distcc')}; ${ccache}; ${await first('cmake')}; ` +
      `ninja ${await first('ninja')}; Node ${process.version}`,
  );
  console.log(`kiln: ${KILN_CC} (farm: 1 builder × ${JOBS} slots, no toolchain preset)`);
  // tsx's transform cache for the kiln client, untimed.
  await run(KILN.launcher[0] ?? KILN.cc, [...KILN.launcher.slice(1), KILN.cc, '--version'], {
    env: { ...baseEnv(), KILN_STATS_FILE: join(WORK, 'warmup-stats.json') },
  });

  const problems: string[] = [];
  const notes: string[] = [];
  const all: [Project, Build[]][] = [];
  for (const p of chosen) all.push([p, await benchProject(p, problems, notes)]);
  for (const [p, builds] of all) summary(p.name, builds, REPEAT, JOBS);
  console.log(`\n${CPU_NOTE}`);
  if (notes.length) {
    console.log('\nNotes:');
    for (const x of notes) console.log(`  - ${x}`);
  }
  if (problems.length) {
    console.log('\nPROBLEMS (figures above that are not what they claim, or kiln builds unlike local ones):');
    for (const x of problems) console.log(`  - ${x}`);
    process.exitCode = 1;
  }
}

try {
  await main();
} catch (err) {
  await Promise.allSettled([...cleanups].map((c) => c()));
  console.error((err as Error).stack ?? String(err));
  process.exitCode = 1;
}
