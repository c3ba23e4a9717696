/**
 * Which files a compile read mention `push_macro`: gcc's `-fdirectives-only` output drops
 * `#pragma push_macro` and restores the macro wrongly at `pop_macro` (gcc 12), so such a compile
 * must run locally. The answer comes with the file's digest (client/cc/file-digests.ts): read
 * once per settled file for the daemon's life, again whenever its inode, size, mtime or ctime change.
 */
import path from 'node:path';
import { fileFacts } from './file-digests.ts';

/** Does any of `files` (relative ones against `cwd`) mention push_macro? */
export function mentionsPushMacro(files: string[], cwd: string): boolean {
  // A marker that names no file (#line "x.c") or no regular file: nothing was read from it.
  return files.some((f) => fileFacts(path.resolve(cwd, f))?.facts?.pushMacro === true);
}
