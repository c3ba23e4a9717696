/**
 * How the hostile-tenant suite counts: each attack is a set of tries, each try refused or
 * accepted, judged from what the farm answered (never assumed). Every attack appends its row to
 * test-artifacts/hostile-rows.jsonl (scripts/test.mjs prints the whole table after the run), and
 * each file prints its own part and checks that every attack the table gives it ran.
 */
import { it, test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ATTACKS, attackOf, type SuiteFile } from './attacks.ts';

const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));
export const HOSTILE_ROWS = `${ARTIFACTS}hostile-rows.jsonl`;

/** One attempt within an attack. */
export interface Try {
  what: string;
  /** True when the farm refused it (or contained it); false when the attack got through. */
  refused: boolean;
  /** What the farm answered, for the table. */
  detail?: string;
}

/** One row of the table. */
export interface Row {
  id: string;
  issue: string;
  category: string;
  file: SuiteFile;
  tried: number;
  refused: number;
  accepted: number;
  todo?: string;
  /** The tries that got through, with what the farm answered. */
  accepts: string[];
  /** Every try, with what the farm answered. */
  tries: Try[];
}

/** A try that is refused when `cond` holds. */
export const tried = (what: string, refused: boolean, detail?: unknown): Try => ({
  what,
  refused,
  ...(detail === undefined ? {} : { detail: typeof detail === 'string' ? detail : JSON.stringify(detail) }),
});

/** The table as text: one line per attack, then the totals. */
export function formatTable(rows: readonly Row[]): string {
  const head = ['attack', 'issue', 'category', 'tried', 'refused', 'accepted', 'note'];
  const body = rows.map((r) => [
    r.id,
    r.issue || '-',
    r.category,
    String(r.tried),
    String(r.refused),
    String(r.accepted),
    r.todo && r.accepted > 0 ? `todo: ${r.todo}` : r.accepts.join('; ').slice(0, 100),
  ]);
  const sum = (k: 'tried' | 'refused' | 'accepted'): number => rows.reduce((n, r) => n + r[k], 0);
  const todoAccepted = rows.filter((r) => r.todo).reduce((n, r) => n + r.accepted, 0);
  body.push([
    `total (${rows.length} attacks)`,
    '',
    '',
    String(sum('tried')),
    String(sum('refused')),
    String(sum('accepted')),
    todoAccepted ? `${todoAccepted} of them in attacks marked todo` : '',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('-+-'), ...body.map(line)].join('\n');
}

/** Registers the attacks of one suite file and, with `finish`, the check that all of them ran. */
export function hostileSuite(file: SuiteFile): {
  attack(id: string, run: () => Promise<Try[]>): void;
  finish(): void;
} {
  const rows: Row[] = [];
  const registered = new Set<string>();
  return {
    attack(id, run) {
      const a = attackOf(id);
      assert.equal(a.file, file, `attack ${id} belongs to ${a.file}.test.ts`);
      registered.add(id);
      it(`${id}: ${a.title}`, a.todo ? { todo: a.todo } : {}, async () => {
        const tries = await run();
        assert.ok(tries.length > 0, `${id}: no try was made`);
        const accepts = tries.filter((t) => !t.refused).map((t) => `${t.what} (${t.detail ?? ''})`);
        const row: Row = {
          id,
          issue: a.issue,
          category: a.category,
          file,
          tried: tries.length,
          refused: tries.length - accepts.length,
          accepted: accepts.length,
          ...(a.todo ? { todo: a.todo } : {}),
          accepts,
          tries,
        };
        rows.push(row);
        mkdirSync(ARTIFACTS, { recursive: true });
        appendFileSync(HOSTILE_ROWS, JSON.stringify(row) + '\n');
        assert.deepEqual(accepts, [], `${id}: accepted`);
      });
    },
    finish() {
      test(`hostile-tenant table (${file}): every attack of the table ran`, () => {
        const order = ATTACKS.map((a) => a.id);
        rows.sort((x, y) => order.indexOf(x.id) - order.indexOf(y.id));
        process.stdout.write(`\nhostile-tenant suite, ${file}:\n${formatTable(rows)}\n\n`);
        const expected = ATTACKS.filter((a) => a.file === file).map((a) => a.id);
        assert.deepEqual([...registered].sort(), [...expected].sort(), 'registered attacks');
        assert.deepEqual(rows.map((r) => r.id).sort(), [...expected].sort(), 'attacks that recorded a row');
      });
    },
  };
}

/** Rows recorded so far in this run (every file). */
export function recordedRows(): Row[] {
  try {
    return readFileSync(HOSTILE_ROWS, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Row);
  } catch {
    return [];
  }
}
