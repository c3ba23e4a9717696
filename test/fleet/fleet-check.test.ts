/**
 * `kiln fleet` against real sshd hosts (./helpers/ssh-host.ts: each its own Debian root overlay,
 * mount and PID namespace, and sshd on a loopback port). Each host is laid out as the Linux builder
 * role leaves one — builder.toml, the role's own init script (ansible/roles/kiln_builder_linux),
 * /opt/kiln/current and /usr/local/bin/node — but bound from this checkout and this machine's node
 * instead of provisioned (the provisioning test does that), so the test stays short. Five faults
 * are seeded, one per host: agent stopped, bwrap removed, cgroup made read-only, clock moved (a
 * fake `date` first on the host's PATH: the real clock cannot be moved per namespace), Redis
 * address wrong. `kiln fleet check` must name each on its host and nothing on the healthy one; an
 * unknown host key is refused with the ssh-keyscan line that trusts it. Then drain, undrain,
 * restart and logs on the healthy host.
 *
 * @timeout 420000 (slow under load: full toolchains / Ansible runs; 180 s timed out at load 10)
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startDevFarm, type DevFarm } from '../../wiring/dev-farm.ts';
import { freePort } from '../helpers/ports.ts';
import { s3Storage, startS3rver, type S3rverHandle } from '../helpers/s3rver.ts';
import { api } from '../helpers/http.ts';
import { kiln } from '../helpers/cli.ts';
import { debianBase } from './helpers/debian-root.ts';
import { startSshHost, type SshHost } from './helpers/ssh-host.ts';

const TOP = fileURLToPath(new URL('../../', import.meta.url)).replace(/\/$/, '');
const FAULTS: Record<string, string[]> = {
  'fc-ok': [],
  'fc-agent': ['agent-not-running'],
  'fc-bwrap': ['bwrap-missing'],
  'fc-cgroup': ['cgroup-not-writable'],
  'fc-clock': ['clock-skew'],
  'fc-redis': ['redis-unreachable'],
};

interface Checked {
  ok: boolean;
  hosts: { host: string; ok: boolean; faults: { code: string; message: string }[]; skewSec: number | null }[];
}

describe('kiln fleet over SSH', { timeout: 170_000 }, () => {
  let dir: string;
  let s3: S3rverHandle;
  let farm: DevFarm;
  const hosts = new Map<string, SshHost>();
  let key: string;
  let yamlInv: string;
  let iniInv: string;
  let known: string;
  const fleet = (args: string[]) =>
    kiln(['fleet', ...args, '--known-hosts', known], {
      url: farm.url,
      token: farm.token,
      env: { KILN_GATEWAY: farm.url },
    });
  // Not execFileSync: the farm (gateway, s3rver) runs in this process and must keep answering.
  const ssh = async (name: string, cmd: string): Promise<string> =>
    (
      await promisify(execFile)('ssh', [
        '-i',
        key,
        '-o',
        `UserKnownHostsFile=${known}`,
        '-o',
        'BatchMode=yes',
        '-p',
        String(hosts.get(name)!.port),
        'root@127.0.0.1',
        cmd,
      ])
    ).stdout;
  const liveNames = async (): Promise<string[]> => {
    const s = (await api({ url: farm.url, token: farm.token }, '/api/v1/status')).body as {
      builders: { name: string; live: boolean }[];
    };
    return s.builders
      .filter((b) => b.live)
      .map((b) => b.name)
      .sort();
  };
  const until = async (what: string, ok: () => Promise<boolean>): Promise<void> => {
    const end = Date.now() + 60_000;
    while (!(await ok())) {
      if (Date.now() > end) throw new Error(`timed out waiting: ${what}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kiln-fleet-'));
    const base = await debianBase();
    s3 = await startS3rver();
    farm = await startDevFarm({ port: 0, builders: 0, s3: s3Storage(s3) });
    key = join(dir, 'id_ed25519');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
    const pub = await readFile(`${key}.pub`, 'utf8');
    const init = (
      await readFile(join(TOP, 'ansible/roles/kiln_builder_linux/templates/kiln-builder.init.j2'), 'utf8')
    ).replace('{{ ansible_managed }}', "the kiln_builder_linux role's init script, copied by the test");
    const cgroup = `kiln-fc-${randomBytes(3).toString('hex')}`;
    const storage = s3Storage(s3);
    // Distinct ports, asked one after the other (the kernel may hand a just-closed port out again).
    const ports = new Set<number>();
    while (ports.size < Object.keys(FAULTS).length) ports.add(await freePort());
    const portOf = new Map(Object.keys(FAULTS).map((n, i) => [n, [...ports][i]!]));
    const started = await Promise.allSettled(
      Object.keys(FAULTS).map(async (name) => {
        const toml = [
          `name = "${name}"`,
          'slots = 1',
          'workDir = "/var/lib/kiln/builder"',
          `[redis]\nurl = "${farm.redis.url}"\nprefix = "${farm.prefix}"`,
          `[storage]\ntype = "s3"\nbucket = "${storage.bucket}"\nregion = "${storage.region}"\nendpoint = "${storage.endpoint}"`,
          `accessKeyId = "${storage.accessKeyId}"\nsecretAccessKey = "${storage.secretAccessKey}"`,
          `[sandbox]\ncgroupParent = "${cgroup}"`,
          '',
        ].join('\n');
        const h = await startSshHost({
          name,
          base,
          dir: join(dir, name),
          port: portOf.get(name)!,
          authorizedKey: pub,
          roBinds: [
            { src: process.execPath, dest: '/usr/local/bin/node' },
            { src: TOP, dest: '/opt/kiln/current' },
            { src: '/usr/bin/bwrap' },
          ],
          files: {
            '/etc/kiln/builder.toml': { content: toml, mode: 0o600 },
            '/etc/init.d/kiln-builder': { content: init, mode: 0o755 },
            '/usr/local/bin/kiln': {
              content: '#!/bin/sh\nexec /usr/local/bin/node /opt/kiln/current/client/bin/kiln.js "$@"\n',
              mode: 0o755,
            },
            '/var/log/kiln/.keep': '',
          },
        });
        hosts.set(name, h);
      }),
    );
    // Every host that started is in `hosts` (so after() stops it) before a failure is thrown.
    for (const r of started) if (r.status === 'rejected') throw r.reason;
    known = join(dir, 'known_hosts');
    await writeFile(known, [...hosts.values()].map((h) => h.knownHostsLine).join('\n') + '\n');
    for (const name of hosts.keys())
      await ssh(
        name,
        'mkdir -p /var/lib/kiln/builder && chmod 711 /var/lib/kiln/builder && service kiln-builder start',
      );
    await until('every builder registered', async () => (await liveNames()).length === hosts.size);

    const entries = [...hosts.values()].map((h) => [h.name, h.port] as const);
    yamlInv = join(dir, 'hosts.yml');
    await writeFile(
      yamlInv,
      [
        'all:',
        '  vars:',
        '    ansible_user: root',
        `    ansible_ssh_private_key_file: ${key}`,
        '  children:',
        '    linux_builders:',
        '      hosts:',
        ...entries.flatMap(([n, p]) => [
          `        ${n}:`,
          '          ansible_host: 127.0.0.1',
          `          ansible_port: ${p}`,
        ]),
        '    gateways:',
        '      hosts: {}',
        '',
      ].join('\n'),
    );
    iniInv = join(dir, 'hosts.ini');
    await writeFile(
      iniInv,
      [
        '[linux_builders]',
        ...entries.map(([n, p]) => `${n} ansible_host=127.0.0.1 ansible_port=${p}`),
        '',
        '[all:vars]',
        'ansible_user=root',
        `ansible_ssh_private_key_file=${key}`,
        '',
      ].join('\n'),
    );

    // The five faults, one per host.
    await ssh('fc-agent', 'service kiln-builder stop');
    // Lazily: the builder's ready sandboxes ([sandbox] readyAhead) keep bwrap busy.
    await ssh('fc-bwrap', 'umount -l /usr/bin/bwrap && rm /usr/bin/bwrap');
    await ssh('fc-cgroup', 'mount -o remount,bind,ro /sys/fs/cgroup/memory');
    await ssh(
      'fc-clock',
      `printf '%s\\n' '#!/bin/sh' 'if [ "$1" = "+%s" ]; then echo $(( $(/bin/date +%s) + 600 )); else exec /bin/date "$@"; fi' > /usr/local/bin/date && chmod 755 /usr/local/bin/date`,
    );
    await ssh(
      'fc-redis',
      `sed -i 's#^url = "redis://127.0.0.1:[0-9]*"#url = "redis://127.0.0.1:1"#' /etc/kiln/builder.toml`,
    );
  });
  after(async () => {
    for (const h of hosts.values()) await h.stop();
    await farm?.stop();
    await s3?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('check names each seeded fault on its own host, and none on the healthy one', async () => {
    const r = await fleet(['check', '-i', yamlInv, '--json']);
    assert.equal(r.code, 1, r.stderr);
    const out = JSON.parse(r.stdout) as Checked;
    const got = Object.fromEntries(out.hosts.map((h) => [h.host, h.faults.map((f) => f.code).sort()]));
    assert.deepEqual(got, FAULTS, r.stdout);
    const byHost = new Map(out.hosts.map((h) => [h.host, h]));
    assert.match(byHost.get('fc-redis')!.faults[0]!.message, /redis:\/\/127\.0\.0\.1:1/);
    assert.match(byHost.get('fc-bwrap')!.faults[0]!.message, /apt-get install bubblewrap/);
    assert.ok(
      Math.abs(byHost.get('fc-clock')!.skewSec! - 600) < 5,
      `skew ${byHost.get('fc-clock')!.skewSec}`,
    );
    assert.ok(Math.abs(byHost.get('fc-ok')!.skewSec!) < 3);

    // The same from the INI form of the inventory, as a table, for two named hosts.
    const t = await fleet(['check', 'fc-ok', 'fc-cgroup', '-i', iniInv]);
    assert.equal(t.code, 1);
    assert.match(t.stdout, /^fc-ok\s+fc-ok\s+0\.1\.0\s+-?\d+(\.\d)?s\s+ok$/m);
    assert.match(
      t.stdout,
      /^fc-cgroup: cgroup-not-writable: cannot make job cgroups under \/sys\/fs\/cgroup\/memory\//m,
    );
    assert.doesNotMatch(t.stdout, /fc-agent/);

    const v = await fleet(['check', 'fc-ok', '-i', iniInv, '--expect-version', '9.9.9', '--json']);
    assert.deepEqual(
      (JSON.parse(v.stdout) as Checked).hosts[0]!.faults.map((f) => f.code),
      ['wrong-version'],
    );
  });

  it('refuses an unknown host key and says how to trust it', async () => {
    const empty = join(dir, 'empty_known_hosts');
    await writeFile(empty, '');
    const r = await kiln(['fleet', 'check', 'fc-ok', '-i', iniInv, '--known-hosts', empty, '--json'], {
      url: farm.url,
      token: farm.token,
    });
    assert.equal(r.code, 1);
    const h = (JSON.parse(r.stdout) as Checked).hosts[0]!;
    assert.equal(h.faults[0]!.code, 'host-key-refused');
    const port = hosts.get('fc-ok')!.port;
    assert.match(h.faults[0]!.message, /is not in .*empty_known_hosts: refusing to connect/);
    assert.ok(
      h.faults[0]!.message.includes(`ssh-keyscan -p ${port} -t ed25519 127.0.0.1 >> ${empty}`),
      h.faults[0]!.message,
    );
    // A key that changed is refused too, and said so.
    const other = hosts.get('fc-agent')!.knownHostsLine.replace(/^\S+/, `[127.0.0.1]:${port}`);
    await writeFile(empty, other + '\n');
    const c = await kiln(['fleet', 'check', 'fc-ok', '-i', iniInv, '--known-hosts', empty, '--json'], {
      url: farm.url,
      token: farm.token,
    });
    assert.match((JSON.parse(c.stdout) as Checked).hosts[0]!.faults[0]!.message, /CHANGED/);
  });

  it('drain, undrain, restart (drain, restart, registered again, undrain) and logs', async () => {
    const d = await fleet(['drain', 'fc-ok', '-i', iniInv, '--json']);
    assert.equal(d.code, 0, d.stderr);
    assert.equal((JSON.parse(d.stdout) as { state: { draining: boolean } }[])[0]!.state.draining, true);
    const u = await fleet(['undrain', 'fc-ok', '-i', iniInv]);
    assert.match(u.stdout, /^fc-ok\s+fc-ok\s+no\s+0$/m);

    const before = (
      (await api({ url: farm.url, token: farm.token }, '/api/v1/builders/fc-ok')).body as {
        builders: { id: string }[];
      }
    ).builders.map((b) => b.id);
    const r = await fleet(['restart', 'fc-ok', '-i', iniInv, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const done = (JSON.parse(r.stdout) as { from: string[]; to: string; keptDrained: boolean }[])[0]!;
    assert.deepEqual(done.from, before);
    assert.ok(!before.includes(done.to));
    const now = (await api({ url: farm.url, token: farm.token }, '/api/v1/builders/fc-ok')).body as {
      draining: boolean;
      builders: { id: string; live: boolean }[];
    };
    assert.equal(now.draining, false, 'undrained after the restart');
    assert.ok(now.builders.some((b) => b.id === done.to && b.live));

    const logs = await fleet(['logs', 'fc-ok', '-i', iniInv, '-n', '200']);
    assert.equal(logs.code, 0, logs.stderr);
    assert.ok(logs.stdout.includes(`builder ${done.to} registered`), logs.stdout);
  });
});
