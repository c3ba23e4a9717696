/** The Ansible inventory reader of `kiln fleet` (INI and YAML, group_vars/host_vars) and known_hosts matching. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readInventory, selectHosts } from '../../client/fleet/inventory.ts';
import { fleetHost } from '../../client/fleet/targets.ts';
import { verifyHostKey } from '../../client/fleet/known-hosts.ts';

describe('fleet inventory', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kiln-inv-'));
    await mkdir(join(dir, 'group_vars/all'), { recursive: true });
    await mkdir(join(dir, 'host_vars'), { recursive: true });
    await writeFile(
      join(dir, 'group_vars/all/main.yml'),
      'kiln_gateway_url: https://gw.example\nkiln_admin_token: "{{ vault_kiln_admin_token }}"\nansible_user: deploy\n',
    );
    await writeFile(join(dir, 'group_vars/all/vault.yml'), '$ANSIBLE_VAULT;1.1;AES256\n6162\n');
    await writeFile(join(dir, 'group_vars/linux_builders.yml'), 'ansible_port: 2200\n');
    await writeFile(join(dir, 'host_vars/lb02.example.net.yml'), 'kiln_builder_name: second\n');
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads INI: groups, children, ranges, vars in order of precedence', async () => {
    const file = join(dir, 'hosts.ini');
    await writeFile(
      file,
      [
        '# comment',
        '[linux_builders]',
        'lb[01:02].example.net',
        'lb03.example.net ansible_host=10.0.0.3 ansible_port=22 note="two words"',
        '[freebsd_builders]',
        'fb01.example.net',
        '[builders:children]',
        'linux_builders',
        'freebsd_builders',
        '[builders:vars]',
        'ansible_user=root',
        '',
      ].join('\n'),
    );
    const hosts = readInventory(file);
    assert.deepEqual(
      hosts.map((h) => h.name),
      ['lb01.example.net', 'lb02.example.net', 'lb03.example.net', 'fb01.example.net'],
    );
    const lb3 = hosts.find((h) => h.name === 'lb03.example.net')!;
    assert.deepEqual(lb3.groups.sort(), ['builders', 'linux_builders']);
    assert.equal(lb3.vars.ansible_port, 22, 'host vars win over group_vars');
    assert.equal(lb3.vars.note, 'two words');
    assert.equal(lb3.vars.ansible_user, 'root', 'a group var wins over all');
    assert.equal(lb3.vars.kiln_gateway_url, 'https://gw.example');
    assert.equal(lb3.vars.kiln_admin_token, undefined, 'templates (vault indirection) are left out');
    const lb1 = fleetHost(hosts[0]!, { knownHosts: '/k' });
    assert.deepEqual(
      [lb1.ssh.host, lb1.ssh.port, lb1.ssh.user, lb1.builder],
      ['lb01.example.net', 2200, 'root', 'lb01.example.net'],
    );
    assert.equal(fleetHost(hosts[1]!).builder, 'second');
    const fb = fleetHost(hosts[3]!);
    assert.deepEqual(
      [fb.freebsd, fb.service, fb.config],
      [true, 'kiln_builder', '/usr/local/etc/kiln/builder.toml'],
    );
    assert.deepEqual(
      selectHosts(hosts, ['freebsd_builders', 'lb01.example.net']).map((h) => h.name),
      ['lb01.example.net', 'fb01.example.net'],
    );
    assert.throws(
      () => selectHosts(hosts, ['nope']),
      /no host of the inventory matches nope \(groups: builders, freebsd_builders, linux_builders\)/,
    );
  });

  it('reads YAML the same way', async () => {
    const file = join(dir, 'hosts.yml');
    await writeFile(
      file,
      [
        'all:',
        '  children:',
        '    builders:',
        '      vars: { ansible_user: root }',
        '      children:',
        '        linux_builders:',
        '          hosts:',
        '            lb[01:02].example.net:',
        '            lb03.example.net: { ansible_host: 10.0.0.3, ansible_port: 22 }',
        '        freebsd_builders:',
        '          hosts: { fb01.example.net: {} }',
        '',
      ].join('\n'),
    );
    const hosts = readInventory(file);
    const ini = readInventory(join(dir, 'hosts.ini'));
    const shape = (hs: typeof hosts) =>
      hs.map((h) => [h.name, [...h.groups].sort(), h.vars.ansible_port, h.vars.ansible_user]).sort();
    assert.deepEqual(shape(hosts), shape(ini));
  });

  it('says where an INI line is wrong', async () => {
    const file = join(dir, 'bad.ini');
    await writeFile(file, '[linux_builders]\nlb1 ansible_port\n');
    assert.throws(() => readInventory(file), /bad\.ini:2: cannot read "ansible_port" \(expected key=value\)/);
  });

  it('matches known_hosts entries: plain, [host]:port, hashed; refuses unknown and changed keys', async () => {
    const blob = (t: string, k: Buffer): Buffer => {
      const tb = Buffer.from(t);
      const len = (b: Buffer): Buffer => Buffer.from([0, 0, 0, b.length]);
      return Buffer.concat([len(tb), tb, len(k), k]);
    };
    const a = blob('ssh-ed25519', randomBytes(32));
    const b = blob('ssh-ed25519', randomBytes(32));
    const salt = randomBytes(20);
    const hashed = `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update('[10.0.0.9]:2222').digest('base64')}`;
    const file = join(dir, 'known_hosts');
    await writeFile(
      file,
      `# x\nlb1.example,10.0.0.1 ssh-ed25519 ${a.toString('base64')}\n${hashed} ssh-ed25519 ${b.toString('base64')}\n[10.0.0.5]:2222 ssh-ed25519 ${a.toString('base64')}\n`,
    );
    assert.deepEqual(verifyHostKey(file, '10.0.0.1', 22, a), { ok: true });
    assert.deepEqual(verifyHostKey(file, '10.0.0.9', 2222, b), { ok: true });
    assert.deepEqual(
      verifyHostKey(file, '10.0.0.5', 2222, a),
      { ok: true },
      '[host]:port is literal, not a character class',
    );
    assert.equal(verifyHostKey(file, '1', 2222, a).ok, false);
    const unknown = verifyHostKey(file, '10.0.0.2', 22, a);
    assert.equal(unknown.ok, false);
    assert.match((unknown as { message: string }).message, /ssh-keyscan -t ed25519 10\.0\.0\.2 >> /);
    const changed = verifyHostKey(file, 'lb1.example', 22, b);
    assert.equal((changed as { reason: string }).reason, 'changed');
    assert.equal(verifyHostKey(file, '10.0.0.9', 22, b).ok, false, 'the port is part of the name');
  });
});
