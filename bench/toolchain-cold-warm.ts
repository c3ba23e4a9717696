/**
 * Time to the first job with a cold toolchain vs a warm one, and the bytes moved: the host gcc
 * packaged, pushed (twice: the second sends nothing), then used by jobs on a fresh builder.
 *
 *   npm run bench:toolchain
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDevFarm } from '../wiring/dev-farm.ts';
import { kilnInProcess } from './cli.ts';

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t = performance.now();
  const r = await fn();
  return [r, (performance.now() - t) / 1000];
}

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'kiln-bench-tc-'));
  const farm = await startDevFarm({ builders: 1, slots: 2, port: 0 });
  const kiln = kilnInProcess(farm.url, farm.token, work);
  try {
    await mkdir(join(work, 'src'));
    await writeFile(
      join(work, 'src', 'hello.c'),
      '#include <stdio.h>\nint main(void){puts("hi");return 0;}\n',
    );
    const [pkg, tPkg] = await timed(() =>
      kiln(['toolchain', 'package', 'gcc', '-o', join(work, 'gcc.tar.gz'), '--json']),
    );
    const p = JSON.parse(pkg.stdout) as {
      digest: string;
      size: number;
      tarSize: number;
      files: number;
      compilerPath: string;
    };
    const push = (): Promise<{ stdout: string }> =>
      kiln([
        'toolchain',
        'push',
        join(work, 'gcc.tar.gz'),
        '--name',
        'gcc-bench',
        '--platform',
        'linux-x86_64',
        '--compiler',
        p.compilerPath,
        '--json',
      ]);
    const [first, tPush1] = await timed(push);
    const [second, tPush2] = await timed(push);
    const up1 = (JSON.parse(first.stdout) as { uploaded: number }).uploaded;
    const up2 = (JSON.parse(second.stdout) as { uploaded: number }).uploaded;
    const job = (tc: string | null) => () =>
      kiln([
        'run',
        '--json',
        ...(tc ? ['--toolchain', tc] : []),
        '--input',
        'src',
        '--output',
        'hello',
        '--',
        'gcc',
        '-O2',
        '-o',
        'hello',
        'hello.c',
      ]);
    const [hostJob, tHost] = await timed(job(null));
    const [cold, tCold] = await timed(job('gcc-bench'));
    const [warm, tWarm] = await timed(job('gcc-bench'));
    const [warm2, tWarm2] = await timed(job('gcc-bench'));
    for (const r of [hostJob, cold, warm, warm2])
      if ((JSON.parse(r.stdout) as { state: string }).state !== 'succeeded')
        throw new Error(`job failed: ${r.stdout}`);
    const mb = (n: number): string => `${(n / 1e6).toFixed(1)} MB`;
    console.log(
      `kiln bench/toolchain-cold-warm — gcc packaged: ${p.files} files, ${mb(p.tarSize)} tar, ${mb(p.size)} gzip`,
    );
    console.log(`${'step'.padEnd(52)} ${'seconds'.padStart(8)}  bytes moved`);
    const row = (what: string, s: number, bytes: string): void =>
      console.log(`${what.padEnd(52)} ${s.toFixed(2).padStart(8)}  ${bytes}`);
    row('package the host gcc (kiln toolchain package)', tPkg, `writes ${mb(p.size)}`);
    row('push, first time (HEAD, upload, preset)', tPush1, `client → farm ${mb(up1)}`);
    row('push again (HEAD finds it)', tPush2, `client → farm ${mb(up2)}`);
    row('job with the host tools (no toolchain), for reference', tHost, 'input only');
    row(
      'first job, toolchain COLD on the builder',
      tCold,
      `store → builder ${mb(p.size)} (once), unpack ${mb(p.tarSize)}`,
    );
    row('second job, toolchain WARM', tWarm, 'store → builder 0');
    row('third job, toolchain WARM', tWarm2, 'store → builder 0');
  } finally {
    await farm.stop();
    await rm(work, { recursive: true, force: true });
  }
}

await main();
