/**
 * The path rules shared by extract.ts (what an archive may contain) and pack.ts (what kiln puts
 * in one, so that everything it packs extracts again). Pure functions: no file system.
 */

/** Names Windows reserves in every directory, with or without an extension. */
const WINDOWS_RESERVED = /^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$/i;
/** Characters Windows does not allow in a file name (":" would name an alternate data stream). */
// eslint-disable-next-line no-control-regex
const WINDOWS_FORBIDDEN = /[<>:"|?*\u0000-\u001f]/;

/** Either the path's segments or why it is refused. */
export type PathCheck = { segments: string[]; problem?: undefined } | { problem: string };

/**
 * Splits an archive entry name (or a caller's relative path) into its segments, dropping empty
 * and "." segments (so "./a//b/" is ["a","b"]). Refuses NUL bytes, backslashes, absolute paths,
 * drive letters and ".." anywhere; with `windows`, also names that Windows would read as
 * something else (":" streams, reserved device names, trailing dots or spaces).
 */
export function checkEntryPath(name: string, windows = false): PathCheck {
  const base = checkCommon(name);
  if (base !== undefined) return { problem: base };
  const segments = name.split('/').filter((s) => s !== '' && s !== '.');
  if (segments.includes('..')) return { problem: 'contains a ".." segment' };
  if (windows) {
    for (const s of segments) {
      if (WINDOWS_FORBIDDEN.test(s)) return { problem: `segment "${s}" is not a valid Windows name` };
      if (WINDOWS_RESERVED.test(s)) return { problem: `segment "${s}" is a reserved Windows name` };
      if (/[. ]$/.test(s)) return { problem: `segment "${s}" ends with a dot or space` };
    }
  }
  return { segments };
}

/**
 * Why a symlink stored at `linkSegments` with link text `target` could lead outside the tree,
 * or undefined when it cannot. The rule is deliberately conservative and needs no knowledge
 * of other entries: the target is relative, and all its ".." segments come first and climb no
 * higher than the link's own directory ("../lib/x" is fine at "a/b", "sub/../x" is refused).
 * Because kiln never creates an entry through a symlink, every link then resolves inside the
 * tree, whatever other links it passes through.
 */
export function symlinkTargetProblem(target: string, linkSegments: readonly string[]): string | undefined {
  const base = checkCommon(target);
  if (base !== undefined) return base;
  let ups = 0;
  let named = false;
  for (const s of target.split('/')) {
    if (s === '' || s === '.') continue;
    if (s !== '..') named = true;
    else if (named) return 'has a ".." segment after a name';
    else ups++;
  }
  if (ups > linkSegments.length - 1) return 'points outside the tree';
  return undefined;
}

function checkCommon(p: string): string | undefined {
  if (p === '') return 'is empty';
  if (p.includes('\0')) return 'contains a NUL byte';
  if (p.includes('\\')) return 'contains a backslash';
  if (p.startsWith('/')) return 'is an absolute path';
  if (/^[A-Za-z]:/.test(p)) return 'starts with a drive letter';
  return undefined;
}
