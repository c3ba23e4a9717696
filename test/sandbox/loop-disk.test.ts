/**
 * builders/linux/loop-disk.ts on the real machine (root, mkfs.ext4, loop devices): a job disk is a
 * file system of exactly the asked size, writing past it is ENOSPC and counts as the limit hit,
 * release unmounts it (or, wiped, keeps it for the next job of its size: as empty as new, the same
 * size) and leaves nothing on the work disk, the next job of a size finds a spare made while the
 * previous one ran, and a sweep at start unmounts what a killed builder left (but never the work
 * directory's own mount).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chown, mkdir, mkdtemp, readdir, rm, statfs, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createLoopDisks, jobMountsUnder } from '../../builders/linux/loop-disk.ts';

const MiB = 1024 * 1024;

test('a job disk holds its size and no more, and is gone after release', async () => {
  const work = await mkdtemp(join(tmpdir(), 'kiln-loop-'));
  const disks = createLoopDisks({ log: () => undefined, spareSizes: 0, keepFree: 0 });
  try {
    const dir = join(work, 'job-a');
    await mkdir(dir);
    const disk = await disks.create(dir, 32);
    assert.match(disk.root, /\/s-[0-9a-f]{16}\/fs\/job$/, "in its own directory beside the job's");
    const point = dirname(disk.root);
    await mkdir(disk.root);
    const s = await statfs(point);
    const size = Number(s.blocks) * Number(s.bsize);
    assert.ok(size > 28 * MiB && size <= 32 * MiB, `size ${size}`);
    assert.equal(await disk.hitLimit(), false);
    await writeFile(join(disk.root, 'ok'), Buffer.alloc(8 * MiB));
    await assert.rejects(writeFile(join(disk.root, 'big'), Buffer.alloc(40 * MiB)), { code: 'ENOSPC' });
    assert.equal(await disk.hitLimit(), true);
    await rm(join(disk.root, 'big'));
    assert.equal(await disk.hitLimit(), true, 'once seen full, it stays reported');
    assert.deepEqual(await jobMountsUnder(work), [point]);
    await disk.release();
    await disk.release();
    assert.deepEqual(await jobMountsUnder(work), []);
    assert.deepEqual(await readdir(work), ['job-a'], 'no image file is left on the work disk');
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
  const disks = createLoopDisks({ log: () => undefined, spareSizes: 1, keepFree: 0 });
  try {
    await mkdir(join(work, 'j1'));
    const first = await disks.create(join(work, 'j1'), 16);
    const spareMade = async (): Promise<boolean> =>
      (await jobMountsUnder(work)).some((p) => p !== dirname(first.root));
    while (!(await spareMade())) await new Promise((r) => setTimeout(r, 20));
    await mkdir(join(work, 'j2'));
    const second = await disks.create(join(work, 'j2'), 16);
    assert.match(second.root, /\/s-[0-9a-f]{16}\/fs\/job$/);
    assert.notEqual(second.root, first.root, 'the spare, mounted before the job asked');
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

test('a released disk is wiped and reused by the next job of its size, as empty and as small as new', async () => {
  const work = await mkdtemp(join(tmpdir(), 'kiln-loop-'));
  const disks = createLoopDisks({ log: () => undefined, spareSizes: 0, keepFree: 1 });
  try {
    await mkdir(join(work, 'j1'));
    const first = await disks.create(join(work, 'j1'), 16);
    await mkdir(first.root);
    // What a job may leave: files, a deep tree, a symlink out, odd modes, another owner.
    await writeFile(join(first.root, 'secret'), 'job one');
    await mkdir(join(first.root, 'a/b/c'), { recursive: true, mode: 0o500 });
    await writeFile(join(first.root, 'a/big'), Buffer.alloc(4 * MiB, 1));
    await symlink('/etc', join(first.root, 'out'));
    await chown(join(first.root, 'secret'), 65534, 65534);
    await writeFile(join(first.tmp!, 'scratch'), Buffer.alloc(2 * MiB, 1)); // and its /tmp
    await first.release();
    assert.deepEqual(await jobMountsUnder(work), [dirname(first.root)], 'kept mounted for reuse');

    await mkdir(join(work, 'j2'));
    const second = await disks.create(join(work, 'j2'), 16);
    assert.equal(second.root, first.root, 'the same file system, wiped');
    assert.deepEqual((await readdir(dirname(second.root))).sort(), ['lost+found', 'tmp']);
    assert.deepEqual(await readdir(second.tmp!), [], 'an empty /tmp: nothing of the first job');
    await mkdir(second.root);
    assert.deepEqual(await readdir(second.root), []);
    assert.equal(await second.hitLimit(), false, 'a new handout: not full because the last job was');
    // Still exactly its size: what the first job wrote is free again, and no more.
    await writeFile(join(second.root, 'ok'), Buffer.alloc(12 * MiB));
    await assert.rejects(writeFile(join(second.root, 'big'), Buffer.alloc(8 * MiB)), { code: 'ENOSPC' });
    assert.equal(await second.hitLimit(), true);
    await second.release();

    // Another size never gets it; a disk left with too many files is unmounted, not wiped.
    await mkdir(join(work, 'j3'));
    const other = await disks.create(join(work, 'j3'), 24);
    assert.notEqual(dirname(other.root), dirname(first.root));
    await other.release();
    const third = await disks.create(join(work, 'j2'), 16);
    assert.equal(third.root, first.root);
    await mkdir(third.root);
    for (let i = 0; i < 2100; i++) await writeFile(join(third.root, String(i)), '');
    await third.release();
    assert.ok(!(await jobMountsUnder(work)).includes(dirname(first.root)), 'many files: unmounted');
    await disks.close();
    assert.deepEqual(await jobMountsUnder(work), [], 'close unmounts the free ones');
    assert.deepEqual((await readdir(work)).sort(), ['j1', 'j2', 'j3'], 'no disk directory is left');
  } finally {
    await disks.close();
    await disks.sweep(work);
    await rm(work, { recursive: true, force: true });
  }
});

test('wiped disks kept are bounded in all: the least recently released goes first', async () => {
  const work = await mkdtemp(join(tmpdir(), 'kiln-loop-'));
  const disks = createLoopDisks({ log: () => undefined, spareSizes: 0, keepFree: 4, maxFree: 2 });
  try {
    await mkdir(join(work, 'j'));
    const made = [];
    for (const size of [16, 16, 24]) made.push(await disks.create(join(work, 'j'), size));
    for (const d of made) await d.release();
    const points = made.map((d) => dirname(d.root));
    assert.deepEqual((await jobMountsUnder(work)).sort(), points.slice(1).sort(), 'the first released went');
    const again = await disks.create(join(work, 'j'), 16);
    assert.equal(dirname(again.root), points[1]);
    await again.release();
  } finally {
    await disks.close();
    await disks.sweep(work);
    await rm(work, { recursive: true, force: true });
  }
});
