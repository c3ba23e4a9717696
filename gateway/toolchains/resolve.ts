/** Turns a job's `toolchain` field (a preset or a digest) into the archive to unpack. */
import { isDigest } from '../../protocol/digest.ts';
import { KilnError } from '../../protocol/errors.ts';
import type { Platform } from '../../protocol/job.ts';
import { toolchainKey } from '../../protocol/store-keys.ts';
import { parsePresetId, presetIdProblem, presetNameSchema } from '../../protocol/toolchain.ts';
import type { BlobStore } from '../../storage/port.ts';
import type { PresetStore } from '../../protocol/preset-store.ts';

/** The toolchain a job runs in. */
export interface ResolvedToolchain {
  /** SHA-256 of the archive (its store key is `toolchainKey(digest)`). */
  digest: string;
  /** The compiler's absolute path inside the archive; null when a bare digest was named. */
  compiler: string | null;
  /** The preset used (`name@platform`), or null for a bare digest. */
  preset: string | null;
}

/**
 * Resolves `nameOrDigest` for a job on `platform`:
 * - a 64-hex digest is taken as is (checked to be in `store` when one is given);
 * - `name@platform` must name `platform` itself (the platform is where the toolchain RUNS:
 *   a cross compiler for aarch64 that runs on x86_64 is a `…@linux-x86_64` preset);
 * - a bare `name` means `name@<platform>`.
 * Throws ERR_VALIDATION (400) for a malformed name or another platform's preset, ERR_NOT_FOUND
 * (404) for an unknown preset or a digest missing from `store`.
 */
export async function resolveToolchain(
  presets: PresetStore,
  nameOrDigest: string,
  platform: Platform,
  store?: BlobStore,
): Promise<ResolvedToolchain> {
  if (isDigest(nameOrDigest)) {
    if (store && !(await store.stat(toolchainKey(nameOrDigest))))
      throw new KilnError('ERR_NOT_FOUND', `no toolchain ${nameOrDigest} on this farm: push it first`);
    return { digest: nameOrDigest, compiler: null, preset: null };
  }
  let id: string;
  if (nameOrDigest.includes('@')) {
    const parsed = parsePresetId(nameOrDigest);
    if (!parsed) throw new KilnError('ERR_VALIDATION', presetIdProblem(nameOrDigest));
    if (parsed.platform !== platform) {
      throw new KilnError(
        'ERR_VALIDATION',
        `preset ${nameOrDigest} runs on ${parsed.platform}, but the job is for ${platform}`,
      );
    }
    id = nameOrDigest;
  } else {
    if (!presetNameSchema.safeParse(nameOrDigest).success)
      throw new KilnError('ERR_VALIDATION', presetIdProblem(nameOrDigest));
    id = `${nameOrDigest}@${platform}`;
  }
  const rec = await presets.get(id);
  if (!rec) throw new KilnError('ERR_NOT_FOUND', `no toolchain preset ${id} (kiln toolchain ls lists them)`);
  return { digest: rec.digest, compiler: rec.compiler, preset: id };
}
