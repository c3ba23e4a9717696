/**
 * The targets a `[toolchains]` preset is published for (`kiln toolchain push --target`), and
 * whether a compile's target is one of them. Asked of the farm at most every {@link TTL_MS} per
 * preset and kept in the OS's cache place (`presets/<name@platform>.json`), so a build asks once,
 * not once per compile. Any failure to ask means "no check": the farm decides as before.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { PresetRecord } from '../../protocol/toolchain.ts';
import { cacheDir } from '../dirs.ts';
import { callJson, type Api } from '../http.ts';

/** How long a preset's targets are trusted before asking again. */
export const TTL_MS = 5 * 60_000;

/** A triple reduced to what decides the objects: arch, OS, environment (no vendor, no versions). */
function essence(triple: string): string {
  const p = triple.toLowerCase().split('-');
  const arch = p[0] === 'arm64' ? 'aarch64' : p[0] === 'amd64' ? 'x86_64' : p[0]!;
  // `aarch64-linux-gnu` has no vendor; `x86_64-pc-windows-msvc` and `arm64-apple-macos11` have one.
  const rest =
    p.length >= 4 || (p.length === 3 && !/^(?:linux|windows|freebsd)/.test(p[1]!)) ? p.slice(2) : p.slice(1);
  const os = (rest[0] ?? '').replace(/[\d.]+$/, '').replace(/^(?:macosx|darwin)$/, 'macos');
  const env = (rest[1] ?? '').replace(/[\d.]+$/, '');
  return [arch, os, env].join('-');
}

/** Is `triple` (a compile's, `x86_64-pc-windows-msvc19.20.0`) one of `targets` (`x86_64-pc-windows-msvc`)? */
export function targetsInclude(targets: string[], triple: string): boolean {
  const want = essence(triple);
  return targets.some((t) => essence(t) === want);
}

/** The preset's targets ([] when it names none), or null when the farm could not say. */
export async function presetTargets(
  api: Api,
  preset: string,
  env: NodeJS.ProcessEnv,
): Promise<string[] | null> {
  const file = path.join(cacheDir(env), 'presets', `${preset.replace(/[^\w.@+-]/g, '_')}.json`);
  try {
    const kept = JSON.parse(readFileSync(file, 'utf8')) as { at: number; targets: string[] };
    if (Date.now() - kept.at < TTL_MS && Array.isArray(kept.targets)) return kept.targets;
  } catch {
    /* not kept yet */
  }
  const rec = await callJson<PresetRecord>(
    { ...api, retryMs: 0 },
    `/api/v1/presets/${encodeURIComponent(preset)}`,
    { timeoutMs: 10_000 },
  ).catch(() => null);
  if (!rec) return null;
  const targets = rec.targets ?? [];
  try {
    mkdirSync(path.dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify({ at: Date.now(), targets }));
    renameSync(tmp, file);
  } catch {
    /* a cache that cannot be written only means asking again */
  }
  return targets;
}
