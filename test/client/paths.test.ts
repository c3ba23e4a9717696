import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { sandboxPath, treePath } from '../../client/paths.ts';

test('Windows client paths map to stable sandbox paths', () => {
  assert.equal(sandboxPath('C:\\src\\a.c', path.win32), '/job/root/c/src/a.c');
  assert.equal(sandboxPath('c:\\src\\..\\src\\a.c', path.win32), '/job/root/c/src/a.c');
  assert.equal(sandboxPath('D:\\Work Dir\\x.h', path.win32), '/job/root/d/Work Dir/x.h');
  assert.equal(sandboxPath('\\\\build\\share\\lib\\y.c', path.win32), '/job/root/unc/build/share/lib/y.c');
  assert.throws(() => sandboxPath('src\\a.c', path.win32), /not an absolute path/);
});

test('POSIX client paths map under the same root', () => {
  assert.equal(sandboxPath('/Users/me/proj/a.c', path.posix), '/job/root/Users/me/proj/a.c');
  assert.equal(sandboxPath('/home/me/../me/a.c', path.posix), '/job/root/home/me/a.c');
});

test('tree paths are relative with / separators, and refuse what is outside the root', () => {
  assert.equal(treePath('C:\\src', 'C:\\src\\lib\\a.c', path.win32), 'lib/a.c');
  assert.equal(treePath('C:\\src', 'D:\\other\\a.c', path.win32), null);
  assert.equal(treePath('C:\\src', 'C:\\srcx\\a.c', path.win32), null);
  assert.equal(treePath('/src', '/src/a/b.c', path.posix), 'a/b.c');
  assert.equal(treePath('/src', '/etc/passwd', path.posix), null);
});

test('Windows matching is case-insensitive where Windows is: drive letters and tree roots', () => {
  assert.equal(sandboxPath('C:\\src\\a.c', path.win32), sandboxPath('c:\\src\\a.c', path.win32));
  assert.equal(treePath('C:\\Src', 'c:\\src\\Lib\\a.c', path.win32), 'Lib/a.c');
  assert.equal(treePath('\\\\build\\share', '\\\\BUILD\\share\\a.c', path.win32), 'a.c');
  assert.equal(treePath('/src', '/SRC/a.c', path.posix), null, 'POSIX paths are case-sensitive');
});
