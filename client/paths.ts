/**
 * Client paths as the builder names them: a path below a root, relative, with "/" separators, by
 * the client OS's rules (a Windows `C:\Src` holds `c:\src\lib\a.c`; POSIX paths are
 * case-sensitive). `kiln cc` lays a compile's tree out under `/job/kiln` with it
 * (client/cc/remote-layout.ts), the same for every checkout.
 */
import type { PlatformPath } from 'node:path';

/** `file` relative to `root`, with "/" separators; null when it is outside `root` (or is `root`). */
export function treePath(root: string, file: string, p: PlatformPath): string | null {
  const rel = p.relative(root, file);
  if (rel === '' || rel.startsWith('..') || p.isAbsolute(rel)) return null;
  return rel.split(p.sep).join('/');
}
