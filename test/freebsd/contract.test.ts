/**
 * The contract with pot: every pot command line kiln can issue (builders/freebsd/pot-commands.ts,
 * and the template script's) is valid against pot's documented usage as the double encodes it from
 * share/pot/<command>.sh (test/doubles/freebsd/pot-usage.mjs), and the double refuses what pot's
 * scripts refuse, so a kiln mistake cannot pass unnoticed.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { jobCommand, potCmd } from '../../builders/freebsd/pot-commands.ts';
import { DOUBLES_DIR, TEMPLATES_DIR } from '../helpers/pot-double.ts';

const run = promisify(execFile);

/** Exit status of `pot <args>` under the usage check only (no state is touched). */
async function usage(args: string[]): Promise<{ code: number; stderr: string }> {
  try {
    await run(join(DOUBLES_DIR, 'pot'), args, {
      env: { ...process.env, POT_DOUBLE_CHECK_ONLY: '1', POT_FS_ROOT: '/nonexistent-pot-root' },
    });
    return { code: 0, stderr: '' };
  } catch (err) {
    const e = err as { code: number; stderr: string };
    return { code: e.code, stderr: e.stderr };
  }
}

describe('pot usage contract', () => {
  const name = 'kiln-b1-0-abc123';
  const issued: Record<string, string[]> = {
    list: potCmd.list().args,
    zfsRoot: potCmd.zfsRoot().args,
    clone: potCmd.clone(name, 'kiln-build', '127.0.2.1').args,
    setCpus: potCmd.setCpus(name, 2).args,
    snapshot: potCmd.snapshot(name).args,
    revert: potCmd.revert(name).args,
    start: potCmd.start(name).args,
    stop: potCmd.stop(name).args,
    destroy: potCmd.destroy(name).args,
    mountIn: potCmd.mountIn(name, '/var/kiln/work/job/root', '/job', false).args,
    mountInRo: potCmd.mountIn(name, '/var/kiln/toolchains/abc/root/usr', '/usr', true).args,
    exec: potCmd.exec(name, 'kiln', jobCommand('/job/src', { A: '1', PATH: '/usr/bin' }, ['cc', '-c', 'a.c']))
      .args,
  };
  for (const [what, args] of Object.entries(issued)) {
    it(`accepts kiln's ${what}: pot ${args.join(' ')}`, async () => {
      const r = await usage(args);
      assert.equal(r.code, 0, r.stderr);
    });
  }

  it("accepts every pot command of the template's create script and flavour", async () => {
    const script = await readFile(join(TEMPLATES_DIR, 'create-template.sh'), 'utf8');
    const lines = script.split('\n').filter((l) => /^pot /.test(l));
    assert.ok(lines.length >= 2, 'create and snapshot');
    const vars: Record<string, string> = { name: 'kiln-build', release: '14.3', here: TEMPLATES_DIR };
    for (const l of lines) {
      const args = l
        .slice(4)
        .split(' ')
        .map((w) =>
          w.replace(/^"|"$/g, '').replace(/\$(\w+)|\$\{(\w+)\}/g, (_, a: string, b: string) => vars[a ?? b]!),
        );
      const r = await usage(args);
      assert.equal(r.code, 0, `${l}: ${r.stderr}`);
    }
    const flavour = await readFile(join(TEMPLATES_DIR, 'kiln-build'), 'utf8');
    for (const l of flavour.split('\n').filter(Boolean)) {
      if (l.startsWith('set-cmd -c ')) continue; // common-flv.sh _flv_set_cmd takes the rest of the line
      const r = await usage([...l.split(' '), '-p', 'kiln-build']);
      assert.equal(r.code, 0, `${l}: ${r.stderr}`);
    }
  });

  const refused: [string, string[], RegExp][] = [
    ['clone without -P (clone.sh)', ['clone', '-p', 'x'], /reference pot name is missing/],
    ['clone -s with -F (clone.sh)', ['clone', '-p', 'x', '-P', 't', '-s', '1', '-F'], /incompatible/],
    [
      'alias without an address (network.sh)',
      ['clone', '-p', 'x', '-P', 't', '-N', 'alias'],
      /-i is mandatory/,
    ],
    [
      'alias -i auto (network.sh)',
      ['clone', '-p', 'x', '-P', 't', '-N', 'alias', '-i', 'auto'],
      /auto not usable/,
    ],
    ['an unknown network type (clone.sh)', ['clone', '-p', 'x', '-P', 't', '-N', 'none'], /not recognized/],
    ['a pot name with a dot (common.sh)', ['clone', '-p', 'a.b', '-P', 't'], /not a valid name/],
    ['exec without a command (exec.sh)', ['exec', '-p', 'x'], /command is mandatory/],
    ['exec -u with -U (exec.sh)', ['exec', '-p', 'x', '-u', 'a', '-U', 'b', 'true'], /mutually exclusive/],
    ['exec -e without = (exec.sh)', ['exec', '-p', 'x', '-e', 'FOO', 'true'], /not in a valid form/],
    [
      'mount-in a relative mount point (mount-in.sh)',
      ['mount-in', '-p', 'x', '-d', '/d', '-m', 'job'],
      /absolute/,
    ],
    [
      'mount-in on / (mount-in.sh)',
      ['mount-in', '-p', 'x', '-d', '/d', '-m', '/'],
      /not a valid mount point/,
    ],
    [
      'mount-in -d with -z (mount-in.sh)',
      ['mount-in', '-p', 'x', '-d', '/d', '-z', 'z', '-m', '/j'],
      /exclusive/,
    ],
    ['mount-in -w with -d (mount-in.sh)', ['mount-in', '-p', 'x', '-d', '/d', '-m', '/j', '-w'], /Remount/],
    ['snapshot with -p and -f (snapshot.sh)', ['snapshot', '-p', 'x', '-f', 'y'], /exclusive/],
    ['revert with neither -p nor -f (revert.sh)', ['revert'], /one of -p\|-f/],
    [
      'destroy with -p and -b (destroy.sh)',
      ['destroy', '-p', 'x', '-b', '14.3'],
      /cannot be used at the same time/,
    ],
    ['an unknown option (getopts)', ['start', '-p', 'x', '-Z'], /illegal option/],
    ['set-rss -M 0 (set-rss.sh)', ['set-rss', '-p', 'x', '-M', '0'], /not a valid memory constraint/],
    ['set-rss without a resource (set-rss.sh)', ['set-rss', '-p', 'x'], /One resource/],
    [
      'an unknown attribute (set-attribute.sh)',
      ['set-attr', '-p', 'x', '-A', 'network', '-V', 'YES'],
      /not a valid attribute/,
    ],
    [
      'a bool attribute set to 2 (set-attribute.sh)',
      ['set-attr', '-p', 'x', '-A', 'mount', '-V', '2'],
      /boolean/,
    ],
    ['list -b with -f (list.sh)', ['ls', '-b', '-f'], /mutually exclusive/],
    ['stop -s, which is internal (stop.sh)', ['stop', '-p', 'x', '-s'], /internal/],
  ];
  for (const [what, args, message] of refused) {
    it(`refuses ${what}`, async () => {
      const r = await usage(args);
      assert.equal(r.code, 1, `pot ${args.join(' ')} was accepted`);
      assert.match(r.stderr, message);
    });
  }
});
