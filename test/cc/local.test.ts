/** The local compile runner: real processes, exact bytes, the compiler's exit code. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  closeSync,
  createWriteStream,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { runLocal } from '../../client/cc/local.ts';

/** A stream that keeps what it is given (and has no fd, so output goes through a pipe). */
function sink(): Writable & { bytes(): Buffer } {
  const chunks: Buffer[] = [];
  const w = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(Buffer.from(chunk));
      cb();
    },
  });
  return Object.assign(w, { bytes: () => Buffer.concat(chunks) });
}

const hasGcc = spawnSync('gcc', ['--version']).status === 0;
const node = process.execPath;

describe('runLocal', () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'kiln-cc-local-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('passes stdout and stderr through byte for byte and returns the exit code', async () => {
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const script = `process.stdout.write(Buffer.from(${JSON.stringify([...all])}));
      process.stderr.write(Buffer.from([0xff, 0x00, 0x0a, 0xe2, 0x80]));
      process.exitCode = 7;`;
    const out = sink();
    const err = sink();
    const code = await runLocal([node, '-e', script], { cwd: dir, stdout: out, stderr: err });
    assert.equal(code, 7);
    assert.ok(out.bytes().equals(all));
    assert.ok(err.bytes().equals(Buffer.from([0xff, 0x00, 0x0a, 0xe2, 0x80])));
  });

  it('waits for all of a large output', async () => {
    const out = sink();
    const code = await runLocal([node, '-e', `process.stdout.write('x'.repeat(3 << 20))`], {
      cwd: dir,
      stdout: out,
      stderr: sink(),
    });
    assert.equal(code, 0);
    assert.equal(out.bytes().length, 3 << 20);
  });

  it('runs in the given directory with the given environment', async () => {
    const out = sink();
    const code = await runLocal(
      [node, '-e', `process.stdout.write(process.cwd() + ' ' + process.env.KILN_T)`],
      {
        cwd: dir,
        stdout: out,
        stderr: sink(),
        env: { KILN_T: 'yes' },
      },
    );
    assert.equal(code, 0);
    assert.equal(out.bytes().toString(), `${dir} yes`);
  });

  it('hands a stream with a file descriptor to the compiler itself', async () => {
    const file = join(dir, 'direct.out');
    const fd = openSync(file, 'w');
    const stream = createWriteStream('', { fd, autoClose: false });
    try {
      const code = await runLocal([node, '-e', `require('fs').writeSync(1, 'direct')`], {
        cwd: dir,
        stdout: stream,
        stderr: sink(),
      });
      assert.equal(code, 0);
    } finally {
      closeSync(fd);
    }
    assert.equal(readFileSync(file, 'utf8'), 'direct');
  });

  it('a missing compiler: 127 and a message', async () => {
    const err = sink();
    const code = await runLocal(['kiln-no-such-compiler-xyz', '-c', 'a.c'], {
      cwd: dir,
      stdout: sink(),
      stderr: err,
    });
    assert.equal(code, 127);
    assert.equal(err.bytes().toString(), 'kiln cc: kiln-no-such-compiler-xyz: command not found\n');
  });

  it('a compiler that cannot be run: 126', async () => {
    writeFileSync(join(dir, 'not-exec'), 'x', { mode: 0o644 });
    const err = sink();
    const code = await runLocal([join(dir, 'not-exec')], { cwd: dir, stdout: sink(), stderr: err });
    assert.equal(code, 126);
    assert.match(err.bytes().toString(), /^kiln cc: .*not-exec: /);
  });

  it('killed by a signal: 128 + its number', async () => {
    const code = await runLocal(['sh', '-c', 'kill -TERM $$'], { cwd: dir, stdout: sink(), stderr: sink() });
    assert.equal(code, 143);
  });

  it('aborting stops the compiler', async () => {
    const ac = new AbortController();
    const out = sink();
    const running = runLocal([node, '-e', `console.log('up'); setTimeout(() => {}, 60000)`], {
      cwd: dir,
      stdout: new Writable({
        write(chunk, enc, cb) {
          ac.abort();
          out.write(chunk, enc, cb);
        },
      }),
      stderr: sink(),
      signal: ac.signal,
    });
    assert.equal(await running, 143);
  });

  it(
    'a compile error: the same diagnostics and exit code as gcc run directly',
    { skip: !hasGcc },
    async () => {
      writeFileSync(join(dir, 'bad.c'), 'int f(void) { return 1 }\n');
      const argv = ['gcc', '-c', 'bad.c', '-o', 'bad.o'];
      const direct = spawnSync(argv[0]!, argv.slice(1), { cwd: dir });
      const out = sink();
      const err = sink();
      const code = await runLocal(argv, { cwd: dir, stdout: out, stderr: err });
      assert.equal(code, direct.status);
      assert.notEqual(code, 0);
      assert.ok(err.bytes().equals(direct.stderr));
      assert.match(err.bytes().toString(), /bad\.c:1:.*error/);
    },
  );

  it('a good compile writes its object', { skip: !hasGcc }, async () => {
    writeFileSync(join(dir, 'good.c'), 'int f(void) { return 1; }\n');
    const code = await runLocal(['gcc', '-c', 'good.c'], { cwd: dir, stdout: sink(), stderr: sink() });
    assert.equal(code, 0);
    assert.equal(readFileSync(join(dir, 'good.o')).subarray(0, 4).toString('latin1'), '\x7fELF');
  });
});
