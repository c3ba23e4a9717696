/**
 * pot-templates/: every file a FreeBSD builder host needs, validated — the profiles load, the
 * flavour holds only flavourable pot commands with the attributes kiln relies on, the flavour
 * script is valid sh and makes the profile's user with no service enabled, and the create script,
 * run through the pot double, makes a snapshotted template with that user.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadPotProfile } from '../../builders/freebsd/profile.ts';
import { potDoubleSkip, startPotHost, TEMPLATES_DIR, type PotHost } from '../helpers/pot-double.ts';

const read = (f: string): Promise<string> => readFile(join(TEMPLATES_DIR, f), 'utf8');

describe('pot-templates', () => {
  it('every profile (*.json) loads and runs jobs as a non-root user with memory and process limits', async () => {
    const files = (await readdir(TEMPLATES_DIR)).filter((f) => f.endsWith('.json'));
    assert.ok(files.includes('default.json'));
    for (const f of files) {
      const p = await loadPotProfile(f.replace(/\.json$/, ''));
      assert.notEqual(p.uid, 0, f);
      assert.ok(
        p.rctl.some((r) => r.resource === 'memoryuse' && r.action === 'deny' && r.amount === 'memory'),
      );
      assert.ok(p.rctl.some((r) => r.resource === 'maxproc' && r.action === 'deny' && r.amount === 'pids'));
    }
  });

  it('the kiln-build flavour sets the attributes kiln relies on, and nothing unknown', async () => {
    const lines = (await read('kiln-build')).split('\n').filter(Boolean);
    const attrs = new Map<string, string>();
    for (const l of lines) {
      const m = /^set-attribute -A (\S+) -V (\S+)$/.exec(l);
      if (m) attrs.set(m[1]!, m[2]!);
      else assert.match(l, /^set-cmd -c \S/, `a line pot flavours accept: ${l}`);
    }
    for (const [k, v] of Object.entries({
      persistent: 'YES', // the jail outlives its start command, so jobs can be run in it
      'no-rc-script': 'YES', // no rc: no service starts
      mount: 'NO',
      nullfs: 'NO',
      tmpfs: 'NO',
      zfs: 'NO',
      procfs: 'NO',
      mlock: 'NO',
      raw_sockets: 'NO',
      children: '0',
      enforce_statfs: '2',
    }))
      assert.equal(attrs.get(k), v, k);
  });

  it('the flavour script is valid sh, makes the profile user and enables no service', async () => {
    execFileSync('sh', ['-n', join(TEMPLATES_DIR, 'kiln-build.sh')]);
    execFileSync('sh', ['-n', join(TEMPLATES_DIR, 'create-template.sh')]);
    const script = await read('kiln-build.sh');
    const p = await loadPotProfile('default');
    assert.match(script, new RegExp(`pw useradd -n ${p.user} -u ${p.uid} -g ${p.gid} `));
    assert.match(script, new RegExp(`pw groupadd -n ${p.user} -g ${p.gid}`));
    assert.doesNotMatch(script, /_enable=("?)YES/i);
    assert.match(script, /chmod ug-s/);
  });

  describe('create-template.sh through the pot double', { skip: potDoubleSkip }, () => {
    let host: PotHost;
    before(async () => {
      host = await startPotHost();
    });
    after(async () => {
      await host?.close();
    });

    it('makes a snapshotted single-dataset template with the build user and the attributes', async () => {
      const dir = join(host.root, 'jails', 'kiln-build');
      const conf = await readFile(join(dir, 'conf', 'pot.conf'), 'utf8');
      assert.match(conf, /^pot\.type=single$/m);
      assert.match(conf, /^pot\.attr\.persistent=YES$/m);
      assert.match(conf, /^pot\.attr\.no-rc-script=YES$/m);
      assert.match(conf, /^pot\.cmd=\/usr\/bin\/true$/m);
      const passwd = await readFile(join(dir, 'm', 'etc', 'passwd'), 'utf8');
      assert.match(passwd, /^kiln:\*:1001:1001:/m);
      assert.equal((await readdir(join(dir, '.snap'))).length, 1);
      const calls = (await host.calls()).map((c) => `${c.tool} ${c.args[0]}`);
      assert.deepEqual(calls.slice(0, 1), ['pot create']);
      assert.ok(calls.includes('pot snapshot'));
    });
  });
});
