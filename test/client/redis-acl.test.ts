/**
 * `kiln redis acl` in-process: where each password comes from (environment, file, generated and
 * written, generated and printed), only digests in the file, one user per builder name, bad
 * arguments refused with what to do, and `--keep` carrying an older release's builder scripts.
 * (That Redis enforces the file is test/redis/acl.test.ts.)
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kiln } from '../helpers/cli.ts';
import { BUILDER_SCRIPTS } from '../../redis/acl.ts';

const dir = mkdtempSync(join(tmpdir(), 'kiln-acl-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');
const userLine = (file: string, user: string): string =>
  file.split('\n').find((l) => l.startsWith(`user ${user} `)) ?? '';

describe('kiln redis acl', () => {
  it('passwords from the environment, from files, or generated and written; the file holds digests only', async () => {
    const pwDir = join(dir, 'pw');
    const first = await kiln(['redis', 'acl', '--builder', 'lb01@linux-x86_64', '--password-dir', pwDir], {
      cwd: dir,
      env: { KILN_REDIS_PASSWORD_KILN_GATEWAY: 'gw-secret' },
    });
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stderr, /kiln-gateway: password from \$KILN_REDIS_PASSWORD_KILN_GATEWAY/);
    assert.match(
      first.stderr,
      new RegExp(`kiln-builder-lb01: password generated, written to ${pwDir}/kiln-builder-lb01\\.password`),
    );
    const written = readFileSync(join(pwDir, 'kiln-builder-lb01.password'), 'utf8').trim();
    assert.equal(statSync(join(pwDir, 'kiln-builder-lb01.password')).mode & 0o777, 0o600);
    assert.ok(userLine(first.stdout, 'kiln-gateway').includes(`#${sha256('gw-secret')}`));
    assert.ok(userLine(first.stdout, 'kiln-builder-lb01').includes(`#${sha256(written)}`));
    assert.ok(
      !first.stdout.includes('gw-secret') && !first.stdout.includes(written),
      'no password in the file',
    );
    assert.match(first.stdout, /^user default off /);
    // Run again: the written password is read back, not replaced.
    const again = await kiln(['redis', 'acl', '--builder', 'lb01@linux-x86_64', '--password-dir', pwDir], {
      cwd: dir,
    });
    assert.match(again.stderr, /kiln-builder-lb01: password from .*kiln-builder-lb01\.password/);
    assert.ok(userLine(again.stdout, 'kiln-builder-lb01').includes(`#${sha256(written)}`));
    // Without a directory, a generated password is printed (once) so it is not lost.
    const loose = await kiln(['redis', 'acl', '--no-admin'], { cwd: dir });
    const m = /kiln-gateway: password generated, not saved \(give --password-dir to keep it\): (\S+)/.exec(
      loose.stderr,
    );
    assert.ok(m, loose.stderr);
    assert.ok(userLine(loose.stdout, 'kiln-gateway').includes(`#${sha256(m[1]!)}`));
    assert.equal(userLine(loose.stdout, 'kiln-admin'), '', '--no-admin leaves it out');
    assert.match(loose.stderr, /no --builder given/);
  });

  it('one user per builder name, each with its own key patterns and only the builder scripts', async () => {
    const r = await kiln(
      ['redis', 'acl', '--prefix', 'farm1', '--builder', 'lb01', '--builder', 'fb01@freebsd-amd64'],
      {
        cwd: dir,
      },
    );
    assert.equal(r.code, 0, r.stderr);
    const lb = userLine(r.stdout, 'kiln-builder-lb01');
    const fb = userLine(r.stdout, 'kiln-builder-fb01');
    assert.match(lb, / ~farm1:bkey:lb01-\[0-9a-f\]/);
    assert.ok(!lb.includes('fb01') && !fb.includes('lb01'));
    assert.match(fb, / ~farm1:\{p:freebsd-amd64\}:leases /);
    assert.match(lb, / ~farm1:\{p:\*\}:leases /, 'no platform given: any platform');
    assert.equal((lb.match(/\+evalsha\|/g) ?? []).length, BUILDER_SCRIPTS.length);
    assert.ok(!/\+eval( |$)|\+evalsha( |$)|\+@all/.test(lb), 'no EVAL, no unrestricted EVALSHA');
    assert.match(userLine(r.stdout, 'kiln-gateway'), / ~farm1:\* &farm1:\* -@all /);
  });

  it('--keep allows an older release its builder scripts too', async () => {
    const old = join(dir, 'old.acl');
    const fake = 'f'.repeat(40);
    writeFileSync(
      old,
      `user default off\nuser kiln-builder-lb01 on ~x +evalsha|${fake}\nuser kiln-gateway on +evalsha|${'e'.repeat(40)}\n`,
    );
    const r = await kiln(['redis', 'acl', '--builder', 'lb01', '--keep', old], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(userLine(r.stdout, 'kiln-builder-lb01').includes(`+evalsha|${fake}`));
    assert.ok(!userLine(r.stdout, 'kiln-gateway').includes('e'.repeat(40)));
    assert.match(r.stderr, /kiln-builder-lb01: also the 1 script\(s\) of .*old\.acl it allowed/);
  });

  it('bad arguments are refused with what to do', async () => {
    const cases: [string[], RegExp][] = [
      [['--builder', 'lb 01'], /the name must be a builder name/],
      [['--builder', 'lb01@windows'], /unknown platform windows \(one of linux-x86_64/],
      [['--builder', 'lb01', '--builder', 'lb01@linux-x86_64'], /--builder lb01 is given twice/],
      [['--prefix', 'a b'], /--prefix a b: letters, digits/],
      [['--keep', join(dir, 'none.acl')], /cannot read --keep .*none\.acl: ENOENT/],
    ];
    for (const [args, message] of cases) {
      const r = await kiln(['redis', 'acl', ...args], { cwd: dir });
      assert.equal(r.code, 1, args.join(' '));
      assert.match(r.stderr, message);
      assert.equal(r.stdout, '');
    }
  });
});
