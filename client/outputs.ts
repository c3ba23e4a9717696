/** Puts a job's outputs in place: extracted safely into a fresh directory, then moved over the targets. */
import { mkdtemp, readdir, rename, rm, mkdir, lstat } from 'node:fs/promises';
import { join, dirname } from 'node:path';
import { extractTar } from '../archive/extract.ts';

async function moveTree(from: string, to: string): Promise<number> {
  let n = 0;
  for (const e of await readdir(from, { withFileTypes: true })) {
    const src = join(from, e.name);
    const dst = join(to, e.name);
    if (e.isDirectory()) {
      const st = await lstat(dst).catch(() => null);
      if (st?.isDirectory()) {
        n += await moveTree(src, dst);
        continue;
      }
      if (st) await rm(dst, { recursive: true, force: true });
      await mkdir(dirname(dst), { recursive: true });
      await rename(src, dst);
      n++;
    } else {
      await mkdir(dirname(dst), { recursive: true });
      await rename(src, dst);
      n++;
    }
  }
  return n;
}

/** Extracts `tar` into `dest` (existing files are replaced, nothing outside `dest` is touched). */
export async function placeOutputs(tar: Uint8Array, dest: string): Promise<number> {
  await mkdir(dest, { recursive: true });
  const staging = await mkdtemp(join(dest, '.kiln-outputs-'));
  try {
    const tree = join(staging, 't');
    await extractTar(tar, tree);
    return await moveTree(tree, dest);
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}
