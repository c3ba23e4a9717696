/**
 * When kiln cold misses its target on Lua: one compile (lapi.c) profiled step by step on the same
 * farm (Node and client start, local preprocessing, the compile itself, the farm round trip of a
 * miss and of a hit, and kiln cc end to end), so the table says where the time goes.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { analyzeCompile } from '../../client/cc/args.ts';
import { stripGccPreamble } from '../../client/cc/remote-layout.ts';
import type { CreatedJob, JobView } from '../../protocol/job.ts';
import type { DevFarm } from '../../wiring/dev-farm.ts';
import { KILN_CC, REPO, kilnEnv, readKilnStats } from './kiln.ts';
import { LUA_STD as STD } from './lua.ts';
import { median, run, timed, type Timed } from './proc.ts';

const PROFILE_REPS = 5;
/** A mid-sized translation unit of Lua. */
const PROFILE_FILE = 'lapi.c';
const TSX_ONLY = "const { register } = await import('tsx/esm/api'); register();";

export async function profileCompile(farm: DevFarm, tree: string): Promise<void> {
  const src = join(tree, 'src');
  const scratch = await mkdtemp(join(tmpdir(), 'kiln-bench-profile-'));
  try {
    const flags = [STD, '-O2', '-Wall', '-Wextra', '-DLUA_COMPAT_5_3', '-DLUA_USE_LINUX'];
    const argv = ['gcc', ...flags, '-c', '-o', join(scratch, 'x.o'), PROFILE_FILE];
    const plan = analyzeCompile(argv, { cwd: src });
    if (!plan.distributable) throw new Error(`profile: ${PROFILE_FILE} is not distributable: ${plan.reason}`);
    const pre = await run(plan.preprocessArgv[0]!, plan.preprocessArgv.slice(1), { cwd: src });
    if (pre.code !== 0) throw new Error(`profile: gcc -E failed: ${pre.stderr}`);
    // The text as kiln cc sends it (client/cc/remote-layout.ts), at the source's name.
    const text = stripGccPreamble(pre.stdout).bytes;
    await writeFile(join(scratch, plan.sourceArg), text);
    const env = kilnEnv(farm, join(scratch, 'stats.json'));
    const [kilnCmd, ...kilnArgs] = KILN_CC.split(/\s+/);
    const rows: [string, number, number, string][] = [];
    const step = async (label: string, fn: (i: number) => Promise<Timed>, note = ''): Promise<number> => {
      const w: number[] = [];
      const c: number[] = [];
      for (let i = 0; i < PROFILE_REPS; i++) {
        const t = await fn(i);
        if (t.code !== 0) throw new Error(`profile: ${label} failed (exit ${t.code})`);
        w.push(t.wallMs);
        c.push(t.cpuMs);
      }
      rows.push([label, median(w), median(c), note]);
      return median(w);
    };
    const load = loadavg()[0]!;
    await step('node -e 0 (bare Node start)', () => timed(process.execPath, ['-e', '0']));
    await step('gcc --version', () => timed('gcc', ['--version']));
    await step(
      'node + tsx register, no kiln code',
      () => timed(process.execPath, ['--input-type=module', '-e', TSX_ONLY], { cwd: REPO }),
      'what running TypeScript unbuilt costs',
    );
    await step(
      'kiln cc gcc --version (client start, runs locally)',
      () => timed(kilnCmd!, [...kilnArgs, '--version'], { env }),
      'process start + tsx + kiln cc modules',
    );
    await step(
      `gcc -E ${PROFILE_FILE} (local preprocess)`,
      () => timed(plan.preprocessArgv[0]!, plan.preprocessArgv.slice(1), { cwd: src }),
      `${(pre.stdout.length / 1024).toFixed(0)} KiB out`,
    );
    await step(`gcc -c ${PROFILE_FILE} from the text (the remote step, run locally)`, () =>
      timed(plan.compileArgv[0]!, plan.compileArgv.slice(1), { cwd: scratch }),
    );
    await step(`gcc -c ${PROFILE_FILE} (whole local compile)`, () =>
      timed(argv[0]!, argv.slice(1), { cwd: src }),
    );

    // The farm's share: the same request kiln cc sends, from this process.
    const body = (nonce: string, cache: boolean): string =>
      JSON.stringify({
        argv: [basename(plan.compileArgv[0]!), ...plan.compileArgv.slice(1), `-DKILN_BENCH_NONCE=${nonce}`],
        inline: [{ path: plan.sourceArg, data: text.toString('base64') }],
        env: { LC_ALL: 'C' },
        outputs: ['out.o'],
        cache,
        inlineResult: true,
      });
    const headers = { Authorization: `Bearer ${farm.token}`, 'Content-Type': 'application/json' };
    const phases: { queue: number[]; run: number[] } = { queue: [], run: [] };
    const post = async (b: string, track: boolean): Promise<Timed> => {
      const t0 = performance.now();
      const res = await fetch(`${farm.url}/api/v1/jobs?wait=60`, { method: 'POST', headers, body: b });
      const j = (await res.json()) as CreatedJob;
      const wallMs = performance.now() - t0;
      const job: JobView = j.job;
      const ok =
        (res.status === 200 || res.status === 201) && (job.state === 'succeeded' || job.state === 'cached');
      if (track && job.startedAt && job.finishedAt) {
        phases.queue.push(Date.parse(job.startedAt) - Date.parse(job.createdAt));
        phases.run.push(Date.parse(job.finishedAt) - Date.parse(job.startedAt));
      }
      return { code: ok ? 0 : 1, wallMs, cpuMs: NaN };
    };
    const tag = randomBytes(4).toString('hex');
    const rt = await step('farm round trip, miss (POST /jobs?wait, inline)', (i) =>
      post(body(`${tag}${i}`, false), true),
    );
    await post(body(`${tag}hit`, true), false);
    await step('farm round trip, action-cache hit', () => post(body(`${tag}hit`, true), false));
    const q = median(phases.queue);
    const r = median(phases.run);
    rows.push(['  of the miss: created → started (placement, queue)', q, NaN, 'farm timestamps']);
    rows.push(['  of the miss: started → finished (inputs, sandbox, gcc)', r, NaN, 'farm timestamps']);
    rows.push(['  of the miss: the rest (HTTP, JSON, base64, wake-up)', rt - q - r, NaN, '']);

    // The whole thing, as make runs it.
    // A -D does not change the action key (the farm compiles preprocessed text): a miss needs new
    // text, so each miss compiles a copy under a new name (the line markers carry it).
    const cc = async (nonce: string): Promise<Timed> => {
      const copy = `kbench-${nonce}.c`;
      if (!existsSync(join(scratch, copy))) await copyFile(join(src, PROFILE_FILE), join(scratch, copy));
      const args = [...flags, `-I${src}`, '-c', '-o', join(scratch, 'y.o'), copy];
      return timed(kilnCmd!, [...kilnArgs, ...args], { cwd: scratch, env });
    };
    await step('kiln cc gcc -c (end to end, miss)', (i) => cc(`${tag}cc${i}`), 'CPU: client side only');
    await cc(`${tag}cchit`);
    await step('kiln cc gcc -c (end to end, hit)', () => cc(`${tag}cchit`), 'CPU: client side only');
    const s = await readKilnStats(join(scratch, 'stats.json'));

    console.log(
      `\nProfile of one compile (${PROFILE_FILE}), median of ${PROFILE_REPS}, load ${load.toFixed(2)} before; ` +
        `profile's kiln cc: remote ${s.remote}, hits ${s.cacheHits}, fallbacks ${s.fallbacks}`,
    );
    console.log(`${'step'.padEnd(58)} ${'wall ms'.padStart(8)} ${'CPU ms'.padStart(8)}  note`);
    for (const [label, w, c, note] of rows)
      console.log(
        `${label.padEnd(58)} ${w.toFixed(1).padStart(8)} ${(Number.isNaN(c) ? '-' : c.toFixed(0)).padStart(8)}  ${note}`,
      );
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
