/**
 * One round of bench:cc on one project: fresh trees, timed builds with their logs, the local
 * reference a build is compared with (objects, diagnostics, check output), and the record of
 * each build (printed as it finishes; what differs from local goes to the problems).
 */
import { mkdir, readFile, rm } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { machineCpuMs, must, timed } from './proc.ts';
import { diagnostics, objects, sameCount, type Compiler, type Project } from './project.ts';
import { line, type Build, type Variant } from './report.ts';

export interface Ran {
  wallMs: number;
  cpuMs: number;
  machineCpuMs: number;
  load: number;
  log: string;
}

/** A project's trees: every variant in `here`, except kiln warm2 in `there` (another path length). */
export interface Trees {
  upstream: string;
  here: string;
  there: string;
  logs: string;
}

/** What a build is compared with: a local build's objects and diagnostics, in one folder. */
export interface Reference {
  objects: Map<string, Buffer>;
  diagnostics: string[];
}

export interface BenchOptions {
  jobs: number;
  repeat: number;
  /** Only the quick checks. */
  quick: boolean;
}

/** A build's figures, before it is compared and checked. */
export type Measured = Omit<Build, 'same' | 'diag' | 'check'>;

/** What the variants of one round share. */
export interface Round {
  p: Project;
  t: Trees;
  rep: number;
  o: BenchOptions;
  /** The local build of this round, in `t.here`. */
  here: Reference;
  problems: string[];
  notes: string[];
  builds: Build[];
}

export async function fresh(
  p: Project,
  t: Trees,
  dir: string,
  c: Compiler,
  env: NodeJS.ProcessEnv,
): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(join(dir, '..'), { recursive: true });
  await must('cp', ['-a', t.upstream, dir]);
  await p.setup(dir, c, env);
}

/** The project's build in `dir`, timed, its output into `<logs>/<name>.log`; throws when it fails. */
export async function build(
  p: Project,
  t: Trees,
  dir: string,
  c: Compiler,
  env: NodeJS.ProcessEnv,
  name: string,
  jobs: number,
): Promise<Ran> {
  const log = join(t.logs, `${name}.log`);
  const cmd = p.build(dir, c, jobs);
  const load = loadavg()[0]!;
  const m0 = await machineCpuMs();
  const r = await timed(cmd.cmd, cmd.args, { cwd: cmd.cwd, env, log });
  const m1 = await machineCpuMs();
  const text = await readFile(log, 'utf8').catch(() => '');
  if (r.code !== 0)
    throw new Error(`${p.name} ${name}: build failed (exit ${r.code}) in ${dir}:\n${text.slice(-3000)}`);
  return { wallMs: r.wallMs, cpuMs: r.cpuMs, machineCpuMs: m1 - m0, load, log: text };
}

export async function reference(dir: string, log: string): Promise<Reference> {
  return { objects: await objects(dir), diagnostics: diagnostics(log, dir) };
}

function diagDiff(got: string[], ref: string[]): string {
  if (got.join('\n') === ref.join('\n')) return '=';
  const extra = got.filter((l) => !ref.includes(l)).length;
  const missing = ref.filter((l) => !got.includes(l)).length;
  return `DIFFERS (${got.length} lines vs local ${ref.length}: ${extra} not local, ${missing} missing)`;
}

/** The figures every build has. */
export const measured = (variant: Variant, rep: number, dir: string, r: Ran): Measured => ({
  variant,
  rep,
  dir,
  wallMs: r.wallMs,
  cpuMs: r.cpuMs,
  machineCpuMs: r.machineCpuMs,
  load: r.load,
});

/** The local build's check output, per project: every other build's must equal it. */
const localOutputs = new Map<string, string>();

/**
 * Checks a build (the project's checks; the whole suite for local and kiln in the first round),
 * compares its objects and diagnostics with `ref`, prints it and keeps it.
 */
export async function record(round: Round, b: Measured, r: Ran, ref: Reference): Promise<Build> {
  const { p, o } = round;
  const full = !o.quick && b.rep === 1 && (b.variant === 'local' || b.variant.startsWith('kiln'));
  const c = await p.check(b.dir, full);
  if (b.variant === 'local' && !localOutputs.has(p.name)) localOutputs.set(p.name, c.output);
  const check = !c.ok
    ? `FAILED: ${c.text}`
    : c.output !== localOutputs.get(p.name)
      ? 'FAILED: output differs from local'
      : `ok (${c.text})`;
  const same = b.variant === 'local' ? undefined : sameCount(await objects(b.dir), ref.objects);
  const diag = diagDiff(diagnostics(r.log, b.dir), ref.diagnostics);
  const done: Build = { ...b, check, diag, ...(same ? { same } : {}) };
  const label = `${p.name} ${b.variant} #${b.rep}`;
  if (!check.startsWith('ok')) round.problems.push(`${label}: the project's check failed: ${check}`);
  // distcc's are its own (full preprocessing loses the comments that silence warnings): a note.
  if (diag !== '=')
    (b.variant === 'distcc' ? round.notes : round.problems).push(`${label}: compiler diagnostics ${diag}`);
  if (same && b.variant !== 'distcc') {
    const [n, m] = same.split('/');
    if (n !== m)
      round.problems.push(
        `${label}: only ${same} objects byte-identical to a local build in the same folder`,
      );
  }
  round.builds.push(done);
  const localMs = round.builds.find((x) => x.variant === 'local' && x.rep === b.rep)?.wallMs ?? null;
  console.log(`[${b.rep}/${o.repeat}] ${line(done, localMs)}`);
  return done;
}
