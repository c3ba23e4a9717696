/**
 * What the per-job disk quota costs a job: making, mounting, and removing a job directory's own
 * ext4 file system (builders/linux/loop-disk.ts) of 10 GiB (the default limits.diskMiB) and of
 * 64 MiB, side by side with the plain directory it replaces (builders/core/job-disk.ts
 * PLAIN_DISKS), plus what the image takes on the work disk. Needs root. `npm run bench:job-disk`.
 */
import { mkdtemp, rm, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PLAIN_DISKS, type JobDisks } from '../builders/core/job-disk.ts';
import { createLoopDisks } from '../builders/linux/loop-disk.ts';
import { HEADER, row, summarise, type Summary } from './stats.ts';

const N = Number(process.env.N ?? 40);

async function measure(disks: JobDisks, sizeMiB: number, base: string): Promise<[Summary, Summary]> {
  const create: number[] = [];
  const release: number[] = [];
  const t0 = performance.now();
  for (let i = 0; i < N; i++) {
    const dir = await mkdtemp(join(base, 'j-'));
    const s = performance.now();
    const disk = await disks.create(dir, sizeMiB);
    create.push(performance.now() - s);
    const r = performance.now();
    await disk.release();
    await rm(dir, { recursive: true, force: true });
    release.push(performance.now() - r);
  }
  const wall = performance.now() - t0;
  return [summarise(create, wall), summarise(release, wall)];
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('bench/job-disk needs root (mount)');
  const base = await mkdtemp(join(tmpdir(), 'kiln-bench-disk-'));
  try {
    const loop = createLoopDisks({ log: () => undefined });
    const free = async (): Promise<number> => {
      const s = await statfs(base);
      return Number(s.bavail) * Number(s.bsize);
    };
    const before = await free();
    const held = await loop.create(await mkdtemp(join(base, 'j-')), 10_240);
    const taken = before - (await free());
    await held.release();
    console.log(`job disk setup, ${N} jobs each (figures taken under load: 2 cores shared)\n`);
    console.log(HEADER);
    for (const [label, disks, mib] of [
      ['plain directory (no quota)', PLAIN_DISKS, 10_240],
      ['loop ext4, 64 MiB', loop, 64],
      ['loop ext4, 10 GiB (the default diskMiB)', loop, 10_240],
    ] as const) {
      const [c, r] = await measure(disks, mib, base);
      console.log(row(`${label}: make + mount`, c));
      console.log(row(`${label}: unmount + remove`, r));
    }
    console.log(`\nwork disk taken by an empty 10 GiB job disk: ${(taken / 1024).toFixed(0)} KiB`);
  } finally {
    await createLoopDisks({ log: () => undefined }).sweep(base);
    await rm(base, { recursive: true, force: true });
  }
}

await main();
