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
import { mkdir, rm } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { debianSource } from './cc/debian-source.ts';
import { gzipProject } from './cc/gzip.ts';
import { jsonC } from './cc/json-c.ts';
import { KILN_CC, WORK, kilnCompiler } from './cc/kiln.ts';
import { lua } from './cc/lua.ts';
import { ensureTools, hasCcache } from './cc/peers.ts';
import { profileCompile } from './cc/profile.ts';
import { baseEnv, cleanups, median, run } from './cc/proc.ts';
import type { Compiler, Project } from './cc/project.ts';
import { COLD_TARGET, CPU_NOTE, summary, type Build } from './cc/report.ts';
import {
  build,
  fresh,
  measured,
  record,
  reference,
  type BenchOptions,
  type Round,
  type Trees,
} from './cc/runner.ts';
import { ccacheRound, distccRound, kilnRound } from './cc/variants.ts';

// ---------------------------------------------------------------------------------------------
// Options

/** A bad option: its message is printed alone. */
class Usage extends Error {}

function intFlag(name: string, dflt: number): number {
  const i = process.argv.indexOf(name);
  if (i < 0) return dflt;
  const n = Number(process.argv[i + 1]);
  if (!Number.isInteger(n) || n < 1) throw new Usage(`${name} needs a whole number ≥ 1`);
  return n;
}

const PROJECTS: Record<string, Project> = { lua, 'json-c': jsonC, gzip: gzipProject(WORK) };

interface Options extends BenchOptions {
  projects: Project[];
  profile: 'auto' | 'always' | 'never';
}

function options(): Options {
  const i = process.argv.indexOf('--project');
  const names = i < 0 ? Object.keys(PROJECTS) : (process.argv[i + 1] ?? '').split(',').filter(Boolean);
  const bad = names.filter((n) => !PROJECTS[n]);
  if (bad.length || !names.length)
    throw new Usage(
      `--project takes some of ${Object.keys(PROJECTS).join(',')} (got ${bad.join(',') || 'none'})`,
    );
  return {
    jobs: intFlag('--jobs', 2),
    repeat: intFlag('--repeat', 3),
    quick: process.argv.includes('--quick'),
    projects: names.map((n) => PROJECTS[n]!),
    profile: process.argv.includes('--no-profile')
      ? 'never'
      : process.argv.includes('--profile')
        ? 'always'
        : 'auto',
  };
}

const LOCAL: Compiler = { launcher: [], cc: 'gcc' };
const KILN = kilnCompiler();

// ---------------------------------------------------------------------------------------------
// One project

async function benchProject(p: Project, o: Options, problems: string[], notes: string[]): Promise<Build[]> {
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
  console.log(`\n== ${p.name} ${version} (${p.package}): ${p.describe.replace('-jN', `-j${o.jobs}`)}`);

  // Warm-up, untimed: page cache for the compiler and the tree.
  await fresh(p, t, t.here, LOCAL, baseEnv());
  await build(p, t, t.here, LOCAL, baseEnv(), 'warmup', o.jobs);

  const builds: Build[] = [];
  for (let rep = 1; rep <= o.repeat; rep++) {
    await fresh(p, t, t.here, LOCAL, baseEnv());
    const l = await build(p, t, t.here, LOCAL, baseEnv(), `local-${rep}`, o.jobs);
    const round: Round = {
      p,
      t,
      rep,
      o,
      here: await reference(t.here, l.log),
      problems,
      notes,
      builds,
    };
    await record(round, measured('local', rep, t.here, l), l, round.here);
    await distccRound(round);
    await ccacheRound(round);
    await kilnRound(round, async (farm) => {
      if (p !== lua || rep !== o.repeat) return;
      const localMed = median(builds.filter((b) => b.variant === 'local').map((b) => b.wallMs));
      const slow = median(builds.filter((b) => b.variant === 'kiln cold').map((b) => b.wallMs)) / localMed;
      if (o.profile === 'always' || (o.profile === 'auto' && slow > COLD_TARGET))
        await profileCompile(farm, t.here);
    });
  }
  return builds;
}

// ---------------------------------------------------------------------------------------------
// Main

async function main(): Promise<void> {
  const o = options();
  await ensureTools();
  const first = async (cmd: string): Promise<string> =>
    (await run(cmd, ['--version'])).stdout.split('\n')[0] ?? '?';
  const ccache = (await hasCcache()) ? await first('ccache') : 'no ccache';
  console.log(
    `kiln bench/build-vs-distcc: ${o.projects.map((p) => p.name).join(', ')}; -j${o.jobs}, ${o.repeat} build(s) per variant`,
  );
  console.log(
    `machine: ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), load ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}; ${await first('gcc')}; ${await first('distcc')}; ${ccache}; ${await first('cmake')}; ` +
      `ninja ${await first('ninja')}; Node ${process.version}`,
  );
  console.log(`kiln: ${KILN_CC} (farm: 1 builder × ${o.jobs} slots, no toolchain preset)`);
  // tsx's transform cache for the kiln client, untimed.
  await run(KILN.launcher[0] ?? KILN.cc, [...KILN.launcher.slice(1), KILN.cc, '--version'], {
    env: { ...baseEnv(), KILN_STATS_FILE: join(WORK, 'warmup-stats.json') },
  });

  const problems: string[] = [];
  const notes: string[] = [];
  const all: [Project, Build[]][] = [];
  for (const p of o.projects) all.push([p, await benchProject(p, o, problems, notes)]);
  for (const [p, builds] of all) summary(p.name, builds, o.repeat, o.jobs);
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
  if (err instanceof Usage) {
    console.error(
      `bench:cc: ${err.message}\n  npm run bench:cc -- [--project lua,json-c,gzip] [--jobs N] [--repeat R] [--quick] [--profile | --no-profile]`,
    );
    process.exitCode = 2;
  } else {
    console.error((err as Error).stack ?? String(err));
    process.exitCode = 1;
  }
}
