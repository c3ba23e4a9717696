/**
 * The Ansible side without a fleet: Debian's ansible-lint with the production profile passes on
 * ansible/; the FreeBSD role passes --syntax-check and a --check --diff run against an inventory
 * host it cannot change (a Debian test host over SSH, ./helpers/ssh-host.ts: FreeBSD cannot run
 * here, so its pkg, sysrc, pot and service tasks are skipped there, while its files are rendered
 * and diffed), and that host is left exactly as it was.
 *
 * @timeout 420000 (slow under load: full toolchains / Ansible runs; 180 s timed out at load 10)
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../helpers/ports.ts';
import { debianBase } from './helpers/debian-root.ts';
import { startSshHost, type SshHost } from './helpers/ssh-host.ts';
import { ANSIBLE_DIR, playbook } from './helpers/ansible.ts';
import { releaseArchive } from './helpers/artifacts.ts';

describe('ansible roles', { timeout: 170_000 }, () => {
  let dir: string;
  let host: SshHost;
  let key: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kiln-roles-'));
    key = join(dir, 'id_ed25519');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
    host = await startSshHost({
      name: 'fb1',
      base: await debianBase(),
      dir: join(dir, 'fb1'),
      port: await freePort(),
      authorizedKey: await readFile(`${key}.pub`, 'utf8'),
    });
    await writeFile(join(dir, 'known_hosts'), host.knownHostsLine + '\n');
    await writeFile(
      join(dir, 'hosts.ini'),
      [
        '[freebsd_builders]',
        `fb1 ansible_host=127.0.0.1 ansible_port=${host.port} ansible_user=root ansible_ssh_private_key_file=${key}`,
        '[freebsd_builders:vars]',
        `ansible_ssh_common_args='-o UserKnownHostsFile=${join(dir, 'known_hosts')} -o StrictHostKeyChecking=yes'`,
        '',
      ].join('\n'),
    );
  });
  after(async () => {
    await host?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('ansible-lint --profile production passes on ansible/', () => {
    const r = spawnSync(
      'ansible-lint',
      ['--profile', 'production', '--nocolor', 'roles', 'playbooks', 'inventory'],
      {
        cwd: ANSIBLE_DIR,
        encoding: 'utf8',
      },
    );
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(
      r.stdout + r.stderr,
      /Passed with production profile: 0 failure\(s\), 0 warning\(s\) on \d+ files/,
    );
  });

  it('the FreeBSD role passes --syntax-check and a check-mode run that changes nothing', async () => {
    const inv = ['-i', join(dir, 'hosts.ini')];
    const syntax = await playbook(['playbooks/site.yml', '--syntax-check', ...inv]);
    assert.equal(syntax.code, 0, syntax.output);
    const run = await playbook([
      'playbooks/site.yml',
      '--check',
      '--diff',
      ...inv,
      '-e',
      `kiln_release_archive=${releaseArchive()}`,
      '-e',
      'vault_kiln_builder_redis_url=redis://redis.internal:6379',
      '-e',
      '{"kiln_storage": {"type": "s3", "bucket": "kiln-farm", "region": "eu-west-1"}}',
    ]);
    assert.equal(run.code, 0, run.output);
    assert.equal(run.recap.fb1?.failed, 0, run.output);
    assert.ok((run.recap.fb1?.changed ?? 0) > 0, 'check mode reports what it would change');
    // What it would write, shown by --diff: the rc.d script and builder.toml with the pot keys.
    assert.match(run.output, /\+# PROVIDE: kiln_builder/);
    assert.match(run.output, /\+type = "pot"/);
    assert.match(run.output, /\+template = "kiln-build"/);
    assert.match(run.output, /Install Node, pot and GNU tar[^\n]*\n[^\n]*skipping: \[fb1\]/);
    // Nothing the role manages exists on the host (its writable layer holds every change it had).
    const changed = execFileSync('find', [host.upper, '-xdev'], { encoding: 'utf8' });
    assert.doesNotMatch(changed, /\/(usr\/local\/etc\/kiln|usr\/local\/kiln|var\/db\/kiln|var\/log\/kiln)\b/);
  });
});
