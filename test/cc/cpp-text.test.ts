/**
 * The byte scanner of preprocessed text (client/cc/cpp-text.ts) and what remote-layout.ts does with
 * it, against the line-and-regex code it replaced (kept here as the reference): on real gcc and
 * clang output, and on many small texts made of the lines that matter (markers, escaped names,
 * `<built-in>` sections, the working-directory line, lines that only look like markers).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cppText, holds } from '../../client/cc/cpp-text.ts';
import { layOut, markerFiles, markerPaths, stripGccPreamble } from '../../client/cc/remote-layout.ts';

// ---- the reference: the regexes over the text as a latin1 string, as kiln cc did before ----
const MARKER = /^# \d+ "([^"\\\n]*)"/gm;
const ESCAPED_MARKER = /^# \d+ "((?:[^"\\\n]|\\.)*)"/gm;
const unescape = (s: string): string => s.replace(/\\(.)/g, '$1');
const refNames = (text: string): string[] => [
  ...new Set([...text.matchAll(ESCAPED_MARKER)].map((m) => unescape(m[1]!))),
];
function refStrip(text: string): string {
  const lines = text.split('\n');
  const out: string[] = [];
  let builtin = false;
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    if (l.startsWith('# ')) {
      const m = /^# \d+ "([^"]*)"/.exec(l);
      if (m) {
        if (m[1] === '<built-in>') {
          builtin = true;
          continue;
        }
        builtin = false;
        if (i === 1 && m[1]!.endsWith('//')) continue;
      }
    }
    if (!builtin) out.push(l);
  }
  return out.join('\n');
}
function refRename(text: string, root: string, to: string): string {
  return text.replace(MARKER, (line, p: string) =>
    p.startsWith('/') && (p === root || p.startsWith(`${root}/`))
      ? line.replace(`"${p}"`, `"${to}${p.slice(root.length)}"`)
      : line,
  );
}

/** Checks every operation on `text` against the reference. */
function same(text: string, root = '/src/proj'): void {
  const t = cppText(Buffer.from(text, 'latin1'));
  assert.deepEqual([...new Set(t.markers.map((m) => m.name))], refNames(text), 'names');
  const stripped = stripGccPreamble(t);
  assert.equal(stripped.bytes.toString('latin1'), refStrip(text), `strip of ${JSON.stringify(text)}`);
  const again = cppText(stripped.bytes);
  assert.deepEqual(stripped.markers, again.markers, 'markers moved with the stripped text');
  const l = layOut('fixed', root, root, `${root}/a.c`, 'a.c', stripped, ['gcc', '-c', 'a.c'], '/job')!;
  assert.equal(l.text.toString('latin1'), refRename(refStrip(text), root, '/job/kiln'), 'renamed');
}

describe('line markers found on the bytes', () => {
  it('small texts: the same names, stripped text and renamed markers as the regexes', () => {
    const kinds = [
      '# 1 "a.c"',
      '# 0 "<built-in>"',
      '#define __X 1',
      '# 0 "<command-line>"',
      '# 0 "/src/proj//"',
      '# 12 "/src/proj/inc/h.h" 1',
      '# 3 "/src/proj/inc/h.h" 2',
      '# 1 "/src/project/x.h" 1',
      '# 1 "/usr/include/stdio.h" 1 3 4',
      '# 7 "/src/proj/we\\"ird.h"',
      '# 7 "C:\\\\src\\\\a.c"',
      '# 4 "unterminated',
      '# x "not a marker"',
      '#  1 "not one either"',
      'int x; # 1 "mid-line"',
      '',
      'int main(void) { return 0; }',
    ];
    let seed = 7;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    for (let round = 0; round < 3000; round++) {
      const lines = Array.from({ length: 1 + rand(7) }, () => kinds[rand(kinds.length)]!);
      same(lines.join('\n') + (rand(2) ? '\n' : ''));
    }
  });

  it('real gcc -fdirectives-only output, with -g (the working-directory line) and without', () => {
    const d = mkdtempSync(join(tmpdir(), 'kiln-cpp-text-'));
    try {
      mkdirSync(join(d, 'inc'));
      writeFileSync(join(d, 'inc', 'h.h'), '#define N 3\nstatic int h(void) { return N; }\n');
      writeFileSync(
        join(d, 'a.c'),
        '#include <stdio.h>\n#include "inc/h.h"\nint main(void) { return h(); }\n',
      );
      for (const g of [[], ['-g']]) {
        const r = spawnSync('gcc', [...g, '-E', '-fdirectives-only', `${d}/a.c`], { cwd: d });
        assert.equal(r.status, 0, r.stderr.toString());
        const text = r.stdout.toString('latin1');
        same(text, d);
        const t = stripGccPreamble(cppText(r.stdout));
        assert.ok(!holds(t, '<built-in>'));
        assert.ok(markerFiles(t).includes(`${d}/inc/h.h`));
        assert.ok(markerPaths(t).includes('/usr/include/stdio.h'));
        if (g.length) assert.ok(text.includes(`"${d}//"`) && !holds(t, `"${d}//"`));
      }
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });

  it('holds: a needle anywhere, whole, underscores included', () => {
    const t = (s: string) => cppText(Buffer.from(s, 'latin1'));
    for (const [text, needle, want] of [
      ['__DATE__', '__DATE__', true],
      ['x = __DATE__;', '__DATE__', true],
      ['DATE__ _DATE__ __DATE_', '__DATE__', false],
      ['__TIMES __TIMESTAMP_ __TIMESTAMP__', '__TIMESTAMP__', true],
      ['__TIMESTAMP__', '__TIME__', false],
      ['a __COUNTE', '__COUNTER__', false],
      ['', '__COUNTER__', false],
      ['# 0 "<built-in>"', '<built-in>', true],
    ] as const)
      assert.equal(holds(t(text), needle), want, `${needle} in ${text}`);
  });

  it('names are UTF-8, as paths are, and renamed as UTF-8', () => {
    const text = Buffer.from('# 1 "/src/prøj/a.c"\n# 1 "/src/prøj/ü.h" 1\nint ü;\n', 'utf8');
    const t = cppText(text);
    assert.deepEqual(markerFiles(t), ['/src/prøj/a.c', '/src/prøj/ü.h']);
    const l = layOut('fixed', '/src/prøj', '/src/prøj', '/src/prøj/a.c', 'a.c', t, ['gcc', 'a.c'], '/job')!;
    assert.equal(l.text.toString('utf8'), '# 1 "/job/kiln/a.c"\n# 1 "/job/kiln/ü.h" 1\nint ü;\n');
  });
});
