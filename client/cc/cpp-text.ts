/**
 * Preprocessed text as the bytes the preprocessor wrote, with its line markers (`# 12 "file.h" 1`)
 * found once, by `indexOf` on the bytes: kiln cc reads, strips and renames a compile's text
 * without turning it into a string or a line array (a Lua source is ~500 KB and ~900 markers).
 *
 * A marker is a line `# <digits> "<name>"…`; the name ends at the first `"` not escaped by a
 * backslash (gcc and clang escape `"` and `\` in names; clang-cl on Windows writes `C:\\src\\a.c`).
 * Names are decoded as UTF-8, as the file system's paths are.
 */

export interface Marker {
  /** Offset of the line's `#`. */
  line: number;
  /** Offsets of the name between its quotes, escapes included. */
  from: number;
  to: number;
  /** The name, unescaped. */
  name: string;
  /** Did the name hold backslash escapes? */
  escaped: boolean;
}

export interface CppText {
  bytes: Buffer;
  /** Every line marker, in order. */
  markers: Marker[];
}

const NL_MARK = Buffer.from('\n# ');
const HASH = 0x23;
const SPACE = 0x20;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const NL = 0x0a;
const CR = 0x0d;

/** The marker on the line at `line` (its `#`), or null. */
function markerAt(b: Buffer, line: number): Marker | null {
  let i = line + 2;
  const digits = i;
  while (i < b.length && b[i]! >= 0x30 && b[i]! <= 0x39) i++;
  if (i === digits || b[i] !== SPACE || b[i + 1] !== QUOTE) return null;
  const from = i + 2;
  let escaped = false;
  for (i = from; i < b.length; i++) {
    const c = b[i]!;
    if (c === QUOTE) break;
    if (c === NL) return null;
    if (c === BACKSLASH) {
      const next = b[i + 1];
      if (next === undefined || next === NL || next === CR) return null;
      escaped = true;
      i++;
    }
  }
  if (i >= b.length) return null;
  const raw = b.toString('utf8', from, i);
  return { line, from, to: i, name: escaped ? raw.replace(/\\(.)/g, '$1') : raw, escaped };
}

/** The text of `bytes` with its markers. */
export function cppText(bytes: Buffer): CppText {
  const markers: Marker[] = [];
  const first = bytes[0] === HASH && bytes[1] === SPACE ? markerAt(bytes, 0) : null;
  if (first) markers.push(first);
  for (let i = bytes.indexOf(NL_MARK); i >= 0; i = bytes.indexOf(NL_MARK, i + 1)) {
    const m = markerAt(bytes, i + 1);
    if (m) markers.push(m);
  }
  return { bytes, markers };
}

/** A text given as a string (tests, hand-made texts) or as bytes with its markers. */
export type TextLike = CppText | string;

export function asCppText(t: TextLike): CppText {
  return typeof t === 'string' ? cppText(Buffer.from(t, 'utf8')) : t;
}

/**
 * The text without the byte ranges `drop` (sorted, not overlapping), its markers moved with it.
 */
export function withoutRanges(t: CppText, drop: [number, number][]): CppText {
  if (drop.length === 0) return t;
  const parts: Buffer[] = [];
  const markers: Marker[] = [];
  let at = 0;
  let shift = 0;
  let k = 0;
  for (const [a, b] of drop) {
    parts.push(t.bytes.subarray(at, a));
    for (; k < t.markers.length && t.markers[k]!.line < b; k++) {
      const m = t.markers[k]!;
      if (m.line < a) markers.push(shift === 0 ? m : moved(m, shift));
    }
    shift += b - a;
    at = b;
  }
  parts.push(t.bytes.subarray(at));
  for (; k < t.markers.length; k++) markers.push(moved(t.markers[k]!, shift));
  return { bytes: Buffer.concat(parts), markers };
}

function moved(m: Marker, by: number): Marker {
  return { ...m, line: m.line - by, from: m.from - by, to: m.to - by };
}

/**
 * The text with the names of some markers replaced: `rename` gives a marker's new name, written
 * as it is between the quotes, or null to keep it.
 */
export function renameMarkers(t: CppText, rename: (m: Marker) => string | null): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  for (const m of t.markers) {
    const name = rename(m);
    if (name === null) continue;
    parts.push(t.bytes.subarray(at, m.from), Buffer.from(name, 'utf8'));
    at = m.to;
  }
  if (parts.length === 0) return t.bytes;
  parts.push(t.bytes.subarray(at));
  return Buffer.concat(parts);
}

/**
 * Does the text hold `needle` (ASCII)? Buffer.indexOf is slow for needles that begin or end with
 * `_` (C text is full of them: `__DATE__` takes ~10 times as long as `DATE`) and for needles of
 * more than 6 bytes (another algorithm), so this looks for at most 6 bytes of the needle without
 * its underscores and checks the whole needle where they are.
 */
export function holds(t: CppText, needle: string): boolean {
  const core = (needle.replace(/^_+|_+$/g, '') || needle).slice(0, 6);
  const lead = needle.indexOf(core);
  const whole = Buffer.from(needle, 'latin1');
  const b = t.bytes;
  for (let i = b.indexOf(core, lead, 'latin1'); i >= 0; i = b.indexOf(core, i + 1, 'latin1')) {
    const at = i - lead;
    if (at + whole.length > b.length) return false;
    if (b.compare(whole, 0, whole.length, at, at + whole.length) === 0) return true;
  }
  return false;
}
