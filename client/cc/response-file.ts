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

/**
 * Expands `@file` arguments recursively (gcc rules, and clang-cl's: nested names are relative to the
 * working directory too); unreadable ones stay literal and are listed.
 */
export function expandResponseFiles(
  args: string[],
  cwd: string,
  read: (p: string) => string,
  split: (text: string) => string[] = splitResponseFile,
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
    out.splice(i, 1, ...split(text));
  }
  return { args: out, unreadable };
}

/**
 * Splits response-file text the way clang-cl reads it on every OS (LLVM's
 * TokenizeWindowsCommandLine, the MSVC C runtime's rules): spaces, tabs and line ends separate;
 * `"` groups (`""` inside a group is one `"`); backslashes are literal except before a `"`, where
 * 2n of them give n and toggle the group, 2n+1 give n and a literal `"`. `'` is an ordinary character.
 */
export function splitWindowsResponseFile(text: string): string[] {
  const out: string[] = [];
  let arg: string | null = null;
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (!quoted && /[ \t\r\n]/.test(c)) {
      if (arg !== null) out.push(arg);
      arg = null;
      continue;
    }
    arg ??= '';
    if (c === '\\') {
      let n = 0;
      while (text[i + n] === '\\') n++;
      if (text[i + n] === '"') {
        arg += '\\'.repeat(n >> 1);
        i += n;
        if (n % 2 === 1) arg += '"';
        else quoted = !quoted;
      } else {
        arg += '\\'.repeat(n);
        i += n - 1;
      }
    } else if (c === '"') {
      if (quoted && text[i + 1] === '"') {
        arg += '"';
        i++;
      } else quoted = !quoted;
    } else arg += c;
  }
  if (arg !== null) out.push(arg);
  return out;
}

/** A response file's text: UTF-16 (with its byte-order mark, as Visual Studio writes them) or UTF-8. */
export function decodeResponseFile(buf: Buffer): string {
  if (buf[0] === 0xff && buf[1] === 0xfe) return buf.subarray(2).toString('utf16le');
  if (buf[0] === 0xfe && buf[1] === 0xff) return Buffer.from(buf.subarray(2)).swap16().toString('utf16le');
  if (buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) return buf.subarray(3).toString('utf8');
  return buf.toString('utf8');
}
