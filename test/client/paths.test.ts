import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { treePath } from '../../client/paths.ts';

test('tree paths are relative with / separators, and refuse what is outside the root', () => {
  assert.equal(treePath('C:\\src', 'C:\\src\\lib\\a.c', path.win32), 'lib/a.c');
  assert.equal(treePath('C:\\src', 'C:\\src\\..\\src\\lib\\a.c', path.win32), 'lib/a.c');
  assert.equal(treePath('C:\\src', 'D:\\other\\a.c', path.win32), null);
  assert.equal(treePath('C:\\src', 'C:\\srcx\\a.c', path.win32), null);
  assert.equal(treePath('D:\\Work Dir', 'D:\\Work Dir\\x.h', path.win32), 'x.h');
  assert.equal(treePath('/src', '/src/a/b.c', path.posix), 'a/b.c');
  assert.equal(treePath('/src', '/etc/passwd', path.posix), null);
});

test('Windows matching is case-insensitive where Windows is: drive letters, tree roots, UNC shares', () => {
  assert.equal(treePath('C:\\Src', 'c:\\src\\Lib\\a.c', path.win32), 'Lib/a.c');
  assert.equal(treePath('\\\\build\\share', '\\\\BUILD\\share\\a.c', path.win32), 'a.c');
  assert.equal(treePath('\\\\build\\share', '\\\\build\\other\\a.c', path.win32), null);
  assert.equal(treePath('/src', '/SRC/a.c', path.posix), null, 'POSIX paths are case-sensitive');
});
