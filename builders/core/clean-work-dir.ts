/**
 * At start, a builder clears what an earlier process on this work directory left behind when it
 * was killed: the job directories of its registrations (`r-<16 hex>/`) and partial blob
 * downloads (`blobs/**\/*.tmp`). The toolchain cache cleans its own partial downloads. One builder
 * per work directory (docs/operations.md), so nothing here belongs to a live process.
 */
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';

/** `r-<16 hex>` (and `<name>-<8 hex>`, the form before job directories were made opaque). */
const REGISTRATION_DIR = /^(r-[0-9a-f]{16}|[A-Za-z0-9_.-]+-[0-9a-f]{8})$/;

async function removeTmp(dir: string): Promise<number> {
  let n = 0;
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const p = join(dir, e.name);
    if (e.isDirectory()) n += await removeTmp(p);
    else if (e.name.endsWith('.tmp')) {
      await rm(p, { force: true });
      n++;
    }
  }
  return n;
}

/** Removes dead registrations' job directories and partial blobs under `workDir`. */
export async function cleanWorkDir(workDir: string, log: (m: string) => void): Promise<void> {
  let dirs = 0;
  for (const e of await readdir(workDir, { withFileTypes: true }).catch(() => [])) {
    if (!e.isDirectory() || !REGISTRATION_DIR.test(e.name)) continue;
    await rm(join(workDir, e.name), { recursive: true, force: true });
    dirs++;
  }
  const tmp = await removeTmp(join(workDir, 'blobs'));
  if (dirs + tmp > 0)
    log(
      `cleaned ${workDir}: ${dirs} job director${dirs === 1 ? 'y' : 'ies'} of a dead builder, ${tmp} partial blob(s)`,
    );
}
