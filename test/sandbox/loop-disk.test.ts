/**
 * builders/linux/loop-disk.ts on the real machine (root, mkfs.ext4, loop devices): a job disk is a
 * file system of exactly the asked size, writing past it is ENOSPC and counts as the limit hit,
 * release unmounts it and leaves nothing on the work disk, the next job of a size finds a spare
 * made while the previous one ran, and a sweep at start unmounts what a killed builder left (but
 * never the work directory's own mount).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, statfs, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLoopDisks, jobMountsUnder } from '../../builders/linux/loop-disk.ts';

const MiB = 1024 * 1024;

test('a job disk holds its size and no more, and is gone after release', async () => {
  const work = await mkdtemp(join(tmpdir(), 'kiln-loop-'));
  const disks = createLoopDisks({ log: () => undefined, spareSizes: 0 });
  try {
    const dir = join(work, 'job-a');
    await mkdir(dir);
    const disk = await disks.create(dir, 32);
    await mkdir(disk.root);
    const s = await statfs(join(dir, 'fs'));
    const size = Number(s.blocks) * Number(s.bsize);
    assert.ok(size > 28 * MiB && size <= 32 * MiB, `size ${size}`);
    assert.equal(await disk.hitLimit(), false);
    await writeFile(join(disk.root, 'ok'), Buffer.alloc(8 * MiB));
    await assert.rejects(writeFile(join(disk.root, 'big'), Buffer.alloc(40 * MiB)), { code: 'ENOSPC' });
    assert.equal(await disk.hitLimit(), true);
    await rm(join(disk.root, 'big'));
    assert.equal(await disk.hitLimit(), true, 'once seen full, it stays reported');
    assert.deepEqual(await jobMountsUnder(work), [join(dir, 'fs')]);
    await disk.release();
    await disk.release();
    assert.deepEqual(await jobMountsUnder(work), []);
    assert.deepEqual(await readdir(dir), ['fs'], 'no image file is left on the work disk');
  } finally {
    await disks.sweep(work);
    await rm(work, { recursive: true, force: true });
  }
});

test("a sweep unmounts a killed builder's job disks", async () => {
  const work = await mkdtemp(join(tmpdir(), 'kiln-loop-'));
  const disks = createLoopDisks({ log: () => undefined, spareSizes: 0 });
  try {
    for (const name of ['b-1/j1', 'b-1/j2']) {
      await mkdir(join(work, name), { recursive: true });
      await disks.create(join(work, name), 16); // never released: the builder "died"
    }
    assert.equal((await jobMountsUnder(work)).length, 2);
    await disks.sweep(work);
    assert.deepEqual(await jobMountsUnder(work), []);
  } finally {
    await disks.sweep(work);
    await rm(work, { recursive: true, force: true });
  }
});

test('the next job of a size gets a spare made in the background; close removes the spares', async () => {
  const work = await mkdtemp(join(tmpdir(), 'kiln-loop-'));
  const disks = createLoopDisks({ log: () => undefined, spareSizes: 1 });
  try {
    await mkdir(join(work, 'j1'));
    const first = await disks.create(join(work, 'j1'), 16);
    assert.equal(first.root, join(work, 'j1', 'fs', 'job'), 'no spare yet: made in its own directory');
    const spareMade = async (): Promise<boolean> =>
      (await jobMountsUnder(work)).some((p) => /\/s-[0-9a-f]{16}\/fs$/.test(p));
    while (!(await spareMade())) await new Promise((r) => setTimeout(r, 20));
    await mkdir(join(work, 'j2'));
    const second = await disks.create(join(work, 'j2'), 16);
    assert.match(second.root, /\/s-[0-9a-f]{16}\/fs\/job$/, 'the spare, mounted before the job asked');
    await mkdir(second.root);
    await assert.rejects(writeFile(join(second.root, 'big'), Buffer.alloc(20 * MiB)), { code: 'ENOSPC' });
    assert.equal(await second.hitLimit(), true);
    await first.release();
    await second.release();
    await disks.close(); // the spare made after the second job
    assert.deepEqual(await jobMountsUnder(work), []);
    assert.deepEqual((await readdir(work)).sort(), ['j1', 'j2'], 'no spare directory is left');
  } finally {
    await disks.close();
    await disks.sweep(work);
    await rm(work, { recursive: true, force: true });
  }
});
