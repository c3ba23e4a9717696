/**
 * The attack table itself: every point of issue 14 has an attack, every category that held has
 * one, names are unique, and each attack's file exists (tally.ts checks at run time that the file
 * runs every attack the table gives it).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ATTACKS } from './attacks.ts';

test('the attack table covers issue 14 and the categories that held', () => {
  const ids = ATTACKS.map((a) => a.id);
  assert.equal(new Set(ids).size, ids.length, 'attack names are unique');
  const issue = ATTACKS.filter((a) => a.category === 'issue');
  assert.ok(issue.length >= 13, `${issue.length} attacks for the 13 wrong answers`);
  for (let n = 1; n <= 10; n++)
    assert.ok(
      issue.some((a) => a.issue === String(n)),
      `point ${n} of the issue has an attack`,
    );
  for (const c of ['network', 'host files', 'privilege', 'bombs', 'archives', 'cross-tenant', 'cache writes'])
    assert.ok(
      ATTACKS.some((a) => a.category === c),
      `category ${c}`,
    );
  for (const a of ATTACKS) {
    assert.ok(
      existsSync(fileURLToPath(new URL(`./${a.file}.test.ts`, import.meta.url))),
      `${a.id}: ${a.file}`,
    );
    assert.ok(a.todo === undefined || a.todo.length > 10, `${a.id}: a todo says why`);
  }
});
