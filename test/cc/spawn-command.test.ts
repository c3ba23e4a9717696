/** What kiln cc spawns for a compiler command: as is, or a Windows .bat/.cmd through cmd.exe (run for real by test/client/wine.test.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { escapeForCmd, spawnable } from '../../client/cc/spawn-command.ts';

test('programs are spawned as they are, on every OS, and scripts elsewhere than Windows', () => {
  assert.deepEqual(spawnable('clang-cl.exe', ['/c', 'a.c'], 'win32', {}), {
    file: 'clang-cl.exe',
    args: ['/c', 'a.c'],
    options: {},
  });
  assert.deepEqual(spawnable('cc.bat', ['a.c'], 'linux', {}), { file: 'cc.bat', args: ['a.c'], options: {} });
});

test('a .bat or .cmd runs through cmd.exe /d /s /c with every argument quoted and its metacharacters escaped', () => {
  const r = spawnable('C:\\tools\\cc.cmd', ['a b&c.c', '/DX="q"', 'end\\'], 'win32', {
    ComSpec: 'C:\\Windows\\system32\\cmd.exe',
  });
  assert.equal(r.file, 'C:\\Windows\\system32\\cmd.exe');
  assert.deepEqual(r.args.slice(0, 3), ['/d', '/s', '/c']);
  assert.equal(r.args[3], '"C:\\tools\\cc.cmd ^"a^ b^&c.c^" ^"/DX=\\^"q\\^"^" ^"end\\\\^""');
  assert.deepEqual(r.options, { windowsVerbatimArguments: true });
  assert.equal(escapeForCmd('x|y', true), '^^^"x^^^|y^^^"', 'npm .cmd shims get a second escape');
});
