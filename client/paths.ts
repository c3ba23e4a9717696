/**
 * Client paths → sandbox paths. Input trees are sent relative to their root with "/" separators;
 * absolute client paths (a Windows `C:\src\a.c`, a macOS `/Users/x/a.c`) map to one stable place
 * under {@link CLIENT_ROOT} so that every build from the same checkout gives the builder the same
 * paths (and so the same cache keys and debug info).
 */
import type { PlatformPath } from 'node:path';

/** Where absolute client paths live inside the sandbox. */
export const CLIENT_ROOT = '/job/root';

/** `file` relative to `root`, with "/" separators; null when it is outside `root`. */
export function treePath(root: string, file: string, p: PlatformPath): string | null {
  const rel = p.relative(root, file);
  if (rel === '' || rel.startsWith('..') || p.isAbsolute(rel)) return null;
  return rel.split(p.sep).join('/');
}

/**
 * A stable sandbox path for an absolute client path: `C:\src\a.c` → `/job/root/c/src/a.c`,
 * `\\server\share\a.c` → `/job/root/unc/server/share/a.c`, `/home/me/a.c` → `/job/root/home/me/a.c`.
 */
export function sandboxPath(abs: string, p: PlatformPath): string {
  if (!p.isAbsolute(abs)) throw new Error(`not an absolute path: ${abs}`);
  const norm = p.normalize(abs);
  if (p.sep === '\\') {
    const unc = /^\\\\([^\\]+)\\([^\\]+)(.*)$/.exec(norm);
    if (unc) return `${CLIENT_ROOT}/unc/${unc[1]}/${unc[2]}${unc[3]!.split('\\').join('/')}`;
    const drive = /^([A-Za-z]):(.*)$/.exec(norm);
    if (drive) return `${CLIENT_ROOT}/${drive[1]!.toLowerCase()}${drive[2]!.split('\\').join('/')}`;
    return `${CLIENT_ROOT}${norm.split('\\').join('/')}`;
  }
  return `${CLIENT_ROOT}${norm}`;
}
