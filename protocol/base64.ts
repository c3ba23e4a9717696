/**
 * Strict base64 in runtime-neutral code (no Buffer): canonical padded base64 only, checked while
 * it is decoded, without a regular expression over the text (a compile's source is hundreds of KB).
 */

type FromBase64 = (s: string, o: { lastChunkHandling: 'strict' }) => Uint8Array;
/** `Uint8Array.fromBase64` (Deno, recent V8); Node 20 lacks it and takes the atob path. */
const fromBase64 = (Uint8Array as unknown as { fromBase64?: FromBase64 }).fromBase64;

/**
 * The bytes of canonical, padded base64 (what `Buffer.from(s, 'base64')` would otherwise read
 * loosely); null when `s` is not that: a stray character, whitespace, missing or misplaced padding.
 */
export function decodeBase64(s: string): Uint8Array | null {
  if (s.length % 4 !== 0) return null;
  const pad = s.endsWith('==') ? 2 : s.endsWith('=') ? 1 : 0;
  const expected = (s.length / 4) * 3 - pad;
  let out: Uint8Array;
  try {
    if (fromBase64) out = fromBase64(s, { lastChunkHandling: 'strict' });
    else {
      const bin = atob(s);
      out = new Uint8Array(bin.length);
      for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    }
  } catch {
    return null;
  }
  // Both decoders skip ASCII whitespace: a text that held some decodes to fewer bytes.
  return out.byteLength === expected ? out : null;
}
