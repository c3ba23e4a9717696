/** gcc response files (`@file`): splitting and recursive expansion, as libiberty does. */
import path from 'node:path';

/** Splits response-file text like libiberty's buildargv. */
export function splitResponseFile(text: string): string[] {
  const out: string[] = [];
  if (/^\s*$/.test(text)) return out;
  let i = 0;
  const ws = (c: string | undefined): boolean => c !== undefined && /\s/.test(c);
  while (i < text.length) {
    while (ws(text[i])) i++;
    if (i >= text.length) break;
    let arg = '';
    let sq = false;
    let dq = false;
    let bs = false;
    for (; i < text.length; i++) {
      const c = text[i]!;
      if (ws(c) && !sq && !dq && !bs) break;
      if (bs) {
        bs = false;
        arg += c;
      } else if (c === '\\') bs = true;
      else if (sq) {
        if (c === "'") sq = false;
        else arg += c;
      } else if (dq) {
        if (c === '"') dq = false;
        else arg += c;
      } else if (c === "'") sq = true;
      else if (c === '"') dq = true;
      else arg += c;
    }
    out.push(arg);
  }
  return out;
}

/** Expands `@file` arguments recursively (gcc rules); unreadable ones stay literal and are listed. */
export function expandResponseFiles(
  args: string[],
  cwd: string,
  read: (p: string) => string,
): { args: string[]; unreadable: string[] } {
  const out = [...args];
  const unreadable: string[] = [];
  let expansions = 0;
  for (let i = 0; i < out.length;) {
    const a = out[i]!;
    if (!a.startsWith('@') || expansions >= 2000) {
      i++;
      continue;
    }
    let text: string;
    try {
      text = read(path.resolve(cwd, a.slice(1)));
    } catch {
      unreadable.push(a);
      i++;
      continue;
    }
    expansions++;
    out.splice(i, 1, ...splitResponseFile(text));
  }
  return { args: out, unreadable };
}
