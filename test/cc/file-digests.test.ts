/**
 * Direct mode's file digests (client/cc/file-digests.ts): a remembered digest is used only while
 * the file's inode, size, mtime and ctime are unchanged, so a header rewritten to the same size
 * with its times put back, or replaced by another file, is hashed again. The `push_macro` scan
 * (client/cc/header-scan.ts), remembered with the digest, sees such a rewrite too.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SETTLED_MS, fileDigest, forgetDigests } from '../../client/cc/file-digests.ts';
import { mentionsPushMacro } from '../../client/cc/header-scan.ts';

const sha = (s: string): string => createHash('sha256').update(s).digest('hex');

/** Waits (bounded) until `file`'s times are older than SETTLED_MS: its digest may then be remembered. */
async function settled(file: string): Promise<void> {
  const deadline = Date.now() + SETTLED_MS + 10_000;
  for (;;) {
    const st = await stat(file);
    if (Math.max(st.mtimeMs, st.ctimeMs) < Date.now() - SETTLED_MS - 50) return;
    assert.ok(Date.now() < deadline, 'the file never settled');
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('direct mode file digests', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kiln-digests-'));
    forgetDigests();
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('the SHA-256 of a file; null for a missing file and a directory', async () => {
    await writeFile(join(dir, 'a.h'), '#define A 1\n');
    assert.equal(fileDigest(join(dir, 'a.h')), sha('#define A 1\n'));
    assert.equal(fileDigest(join(dir, 'missing.h')), null);
    assert.equal(fileDigest(dir), null);
  });

  it('a young file is hashed on every call: a rewrite is seen at once', async () => {
    const f = join(dir, 'young.h');
    await writeFile(f, 'int x = 1;\n');
    assert.equal(fileDigest(f), sha('int x = 1;\n'));
    await writeFile(f, 'int x = 2;\n');
    assert.equal(fileDigest(f), sha('int x = 2;\n'));
  });

  it('a settled file rewritten to the same size with its times put back gets its new digest', async () => {
    const f = join(dir, 'k.h');
    const t = Math.floor(Date.now() / 1000) - 3600; // whole seconds: utimes puts them back exactly
    await writeFile(f, '#define K 1\n');
    await utimes(f, t, t);
    await settled(f);
    assert.equal(fileDigest(f), sha('#define K 1\n'));
    assert.equal(fileDigest(f), sha('#define K 1\n'), 'remembered');
    const was = await stat(f);
    await writeFile(f, '#define K 2\n');
    await utimes(f, t, t);
    const now = await stat(f);
    assert.equal(now.size, was.size);
    assert.equal(now.mtimeMs, was.mtimeMs, 'same size and mtime: only ctime tells');
    assert.equal(fileDigest(f), sha('#define K 2\n'));
  });

  it('a settled file replaced by another (rename over it, same size and mtime) gets the new digest', async () => {
    const f = join(dir, 'r.h');
    const g = join(dir, 'r.h.new');
    const t = Math.floor(Date.now() / 1000) - 3600;
    await writeFile(f, 'int r = 1;\n');
    await writeFile(g, 'int r = 2;\n');
    await utimes(f, t, t);
    await utimes(g, t, t);
    await settled(f);
    await settled(g);
    assert.equal(fileDigest(f), sha('int r = 1;\n'));
    await rename(g, f);
    assert.equal(fileDigest(f), sha('int r = 2;\n'));
    await rm(f);
    assert.equal(fileDigest(f), null, 'and a removed file has none');
  });

  it('the push_macro scan of a settled header sees it rewritten with its size and times put back', async () => {
    const f = join(dir, 'p.h');
    const t = Math.floor(Date.now() / 1000) - 3600;
    await writeFile(f, '#pragma once_macro("X")\n');
    await utimes(f, t, t);
    await settled(f);
    assert.equal(mentionsPushMacro(['p.h', 'missing.h'], dir), false);
    assert.equal(mentionsPushMacro(['p.h'], dir), false, 'remembered');
    assert.equal(fileDigest(f), sha('#pragma once_macro("X")\n'), 'read once for both');
    await writeFile(f, '#pragma push_macro("X")\n');
    await utimes(f, t, t);
    assert.equal(mentionsPushMacro(['p.h'], dir), true);
    assert.equal(fileDigest(f), sha('#pragma push_macro("X")\n'));
  });

  it('the push_macro scan of a young header reads it on every call', async () => {
    const f = join(dir, 'q.h');
    await writeFile(f, 'int q;\n');
    assert.equal(mentionsPushMacro([f], '/'), false);
    await writeFile(f, '#pragma push_macro("q")\n');
    assert.equal(mentionsPushMacro([f], '/'), true);
    assert.equal(mentionsPushMacro([dir], '/'), false, 'a directory mentions nothing');
  });
});
