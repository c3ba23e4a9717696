/**
 * Which files a compile read mention `push_macro`: gcc's `-fdirectives-only` output drops
 * `#pragma push_macro` and restores the macro wrongly at `pop_macro` (gcc 12), so such a compile
 * must run locally. Answers are remembered per file (size, mtime, inode) for the daemon's life.
 */
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';

const memo = new Map<string, { key: string; hit: boolean }>();

function fileMentions(file: string): boolean {
  let st;
  try {
    st = statSync(file);
  } catch {
    return false; // a marker that names no file (#line "x.c"): nothing was read from it
  }
  const key = `${st.size}:${st.mtimeMs}:${st.ino}`;
  const known = memo.get(file);
  if (known?.key === key) return known.hit;
  const hit = readFileSync(file).includes('push_macro');
  memo.set(file, { key, hit });
  return hit;
}

/** Does any of `files` (relative ones against `cwd`) mention push_macro? */
export function mentionsPushMacro(files: string[], cwd: string): boolean {
  return files.some((f) => fileMentions(path.resolve(cwd, f)));
}
