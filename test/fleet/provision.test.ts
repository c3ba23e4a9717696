/**
 * Real provisioning: Debian's ansible-playbook runs ansible/playbooks/site.yml over SSH against two
 * FRESH Debian roots (debootstrap'd once and cached, each host an overlay with an empty upper
 * layer, its own mount and PID namespace and its own sshd on a loopback port; ./helpers/ssh-host.ts).
 * The roles install bubblewrap from Debian, Node (an archive of this machine's node binary, the
 * role's controller-archive path), the kiln release (scripts/release.mjs), the job user, the work
 * directory, builder.toml and the service (these roots have no systemd as init, so the role's LSB
 * init script runs the agent; the systemd unit is the same command and is checked by
 * systemd-analyze). Secrets come from an ansible-vault file. The builders register with a test farm
 * on this machine's loopback (redis-server, the gateway, s3rver) and run a job sent with `kiln
 * run`. A second run reports changed=0, and so does a --check --diff run. Then the rolling upgrade
 * replaces the release on both builders, one at a time, while a load of short jobs runs, and no
 * job is lost.
 * @timeout 900000 (the first run also debootstraps the cached root: several minutes)
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startDevFarm, type DevFarm } from '../../wiring/dev-farm.ts';
import { freePort } from '../helpers/ports.ts';
import { s3Storage, startS3rver, type S3rverHandle } from '../helpers/s3rver.ts';
import { api, waitJob, type Client } from '../helpers/http.ts';
import { kiln } from '../helpers/cli.ts';
import { debianBase } from './helpers/debian-root.ts';
import { startSshHost, type SshHost } from './helpers/ssh-host.ts';
import { playbook, type PlaybookRun } from './helpers/ansible.ts';
import { nodeArchive, releaseArchive } from './helpers/artifacts.ts';

const HOSTS = ['lb1', 'lb2'];

function summary(run: PlaybookRun): string {
  return `rc ${run.code}, recap ${JSON.stringify(run.recap)}\n${run.output.slice(-6000)}`;
}

describe('ansible provisions fresh Debian roots into builders', { timeout: 900_000 }, () => {
  let dir: string;
  let s3: S3rverHandle;
  let farm: DevFarm;
  let admin: Client;
  const hosts: SshHost[] = [];
  let args: string[];
  let vaultPass: string;
  let sshKey: string;
  const ssh = (h: SshHost, cmd: string): string =>
    execFileSync('ssh', [
      '-i',
      sshKey,
      '-o',
      `UserKnownHostsFile=${join(dir, 'known_hosts')}`,
      '-o',
      'StrictHostKeyChecking=yes',
      '-o',
      'BatchMode=yes',
      '-p',
      String(h.port),
      'root@127.0.0.1',
      cmd,
    ]).toString();

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kiln-provision-'));
    const [base, node] = await Promise.all([debianBase(), nodeArchive()]);
    const release = releaseArchive();
    s3 = await startS3rver();
    const storage = s3Storage(s3);
    farm = await startDevFarm({ port: 0, builders: 0, s3: storage, leaseMs: 3000 });
    admin = { url: farm.url, token: farm.token };
    sshKey = join(dir, 'id_ed25519');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', sshKey]);
    const pub = await readFile(`${sshKey}.pub`, 'utf8');
    for (const name of HOSTS) {
      hosts.push(
        await startSshHost({ name, base, dir: join(dir, name), port: await freePort(), authorizedKey: pub }),
      );
    }
    await writeFile(join(dir, 'known_hosts'), hosts.map((h) => h.knownHostsLine).join('\n') + '\n');
    const cgroup = `kiln-fleet-${randomBytes(3).toString('hex')}`;
    await writeFile(
      join(dir, 'hosts.ini'),
      [
        '[gateways]',
        '',
        '[linux_builders]',
        ...hosts.map((h) => `${h.name} ansible_host=127.0.0.1 ansible_port=${h.port}`),
        '',
        '[freebsd_builders]',
        '',
        '[all:vars]',
        'ansible_user=root',
        `ansible_ssh_private_key_file=${sshKey}`,
        `ansible_ssh_common_args='-o UserKnownHostsFile=${join(dir, 'known_hosts')} -o StrictHostKeyChecking=yes'`,
        '',
      ].join('\n'),
    );
    await writeFile(
      join(dir, 'vars.json'),
      JSON.stringify({
        kiln_gateway_url: farm.url,
        kiln_admin_token: '{{ vault_kiln_admin_token }}',
        kiln_release_archive: release,
        kiln_node_archive: node,
        kiln_redis_prefix: farm.prefix,
        kiln_storage: {
          type: 's3',
          bucket: storage.bucket,
          region: storage.region,
          endpoint: storage.endpoint,
        },
        kiln_builder_slots: 2,
        kiln_builder_cgroup_parent: cgroup,
      }),
    );
    // The secrets, as an operator keeps them: an ansible-vault file of vault_* variables.
    vaultPass = join(dir, 'vault-pass');
    await writeFile(vaultPass, randomBytes(16).toString('hex') + '\n', { mode: 0o600 });
    await writeFile(
      join(dir, 'vault.yml'),
      [
        `vault_kiln_admin_token: ${JSON.stringify(farm.token)}`,
        `vault_kiln_builder_redis_url: ${JSON.stringify(farm.redis.url)}`,
        'vault_kiln_storage_env:',
        `  AWS_ACCESS_KEY_ID: ${s3.accessKeyId}`,
        `  AWS_SECRET_ACCESS_KEY: ${s3.secretAccessKey}`,
        '',
      ].join('\n'),
    );
    execFileSync('ansible-vault', ['encrypt', '--vault-password-file', vaultPass, join(dir, 'vault.yml')]);
    args = [
      '-i',
      join(dir, 'hosts.ini'),
      '-e',
      `@${join(dir, 'vars.json')}`,
      '-e',
      `@${join(dir, 'vault.yml')}`,
      '--vault-password-file',
      vaultPass,
    ];
  });
  after(async () => {
    for (const h of hosts) await h.stop();
    await farm?.stop();
    await s3?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('site.yml makes registered builders that run a job sent with kiln run; again: changed=0', async () => {
    const vault = await readFile(join(dir, 'vault.yml'), 'utf8');
    assert.match(vault, /^\$ANSIBLE_VAULT;1\.1;AES256/, 'the secrets file is encrypted');
    assert.ok(!vault.includes(farm.token));

    const first = await playbook(['playbooks/site.yml', ...args]);
    assert.equal(first.code, 0, summary(first));
    for (const h of HOSTS) {
      assert.equal(first.recap[h]?.failed, 0, summary(first));
      assert.ok((first.recap[h]?.changed ?? 0) > 0, summary(first));
    }
    // The farm lists both, live, under their inventory names.
    const status = (await api(admin, '/api/v1/status')).body as {
      builders: { name: string; live: boolean; slots: number }[];
    };
    const logs = (): string =>
      hosts.map((x) => `${x.name}: ${ssh(x, 'tail -5 /var/log/kiln/builder.log')}`).join('\n');
    assert.deepEqual(
      status.builders.map((b) => [b.name, b.live, b.slots]).sort(),
      HOSTS.map((n) => [n, true, 2]),
      logs(),
    );
    // The agent runs as the role left it: root, from the release, jobs as kiln-job.
    const h = hosts[0]!;
    assert.match(ssh(h, 'readlink /opt/kiln/current'), /^\/opt\/kiln\/releases\/kiln-/);
    assert.match(ssh(h, 'stat -c %a:%U /etc/kiln/builder.toml'), /^600:root/);
    assert.match(ssh(h, 'grep -c "^uid = " /etc/kiln/builder.toml'), /^1/);
    assert.match(ssh(h, '/usr/local/bin/node --version'), new RegExp(`^${process.version}`));
    assert.ok(!ssh(h, 'cat /etc/kiln/builder.toml').includes(farm.token), 'no admin token on builders');

    // A job through the CLI; it runs on one of them, in bwrap.
    const run = await kiln(['run', '--', 'sh', '-c', 'echo "hello from $(hostname)"'], admin);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, 'hello from kiln\n', 'the sandbox has its own host name');
    const job = JSON.parse((await kiln(['run', '--json', '--', 'true'], admin)).stdout) as {
      builder: string;
      state: string;
    };
    assert.equal(job.state, 'succeeded');
    assert.match(job.builder, /^lb[12]-[0-9a-f]{8}$/);

    const second = await playbook(['playbooks/site.yml', ...args]);
    assert.equal(second.code, 0, summary(second));
    for (const n of HOSTS) assert.equal(second.recap[n]?.changed, 0, summary(second));

    const check = await playbook(['playbooks/site.yml', '--check', '--diff', '-l', 'lb1', ...args]);
    assert.equal(check.code, 0, summary(check));
    assert.equal(check.recap.lb1?.changed, 0, summary(check));
  });

  it('the systemd unit the role renders passes systemd-analyze verify', async (t) => {
    if (spawnSync('systemd-analyze', ['--version']).status !== 0) return t.skip('no systemd-analyze here');
    const unit = join(dir, 'kiln-builder.service');
    const rendered = await playbook([
      fileURLToPath(new URL('./fixtures/render-unit.yml', import.meta.url)),
      '-i',
      'localhost,',
      '-c',
      'local',
      '-e',
      `kiln_render_unit_dest=${unit}`,
    ]);
    assert.equal(rendered.code, 0, summary(rendered));
    const text = await readFile(unit, 'utf8');
    assert.match(text, /^Restart=always$/m);
    assert.match(text, /^Delegate=yes$/m);
    const v = spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8' });
    const problems = (v.stderr + v.stdout)
      .split('\n')
      // /usr/local/bin/node is there on provisioned hosts, not on this machine.
      .filter(
        (l) =>
          l.includes('kiln-builder.service') &&
          !/network-online|multi-user|\/usr\/local\/bin\/node is not executable/.test(l),
      );
    assert.deepEqual(problems, [], v.stderr);
  });

  it('the rolling upgrade replaces the release on both builders, one at a time, losing no job', async () => {
    const before = (await api(admin, '/api/v1/status')).body as { builders: { id: string }[] };
    const oldIds = new Set(before.builders.map((b) => b.id));
    const upgrade = releaseArchive(`upgrade-${randomBytes(3).toString('hex')}`);

    // A load of short jobs, two at a time, for as long as the upgrade runs.
    let running = true;
    const jobs: { id: string; builder: string | null }[] = [];
    const refused: string[] = [];
    const worker = async (): Promise<void> => {
      while (running) {
        const r = await api(admin, '/api/v1/jobs', {
          method: 'POST',
          json: { argv: ['sh', '-c', 'echo ok; sleep 0.3'] },
        });
        if (r.status === 201) {
          const j = (r.body as { job: { id: string; builder: string | null } }).job;
          jobs.push(j);
          await waitJob(admin, j.id);
        } else refused.push(`${r.status} ${JSON.stringify(r.body)}`);
      }
    };
    const load = [worker(), worker()];
    const run = await playbook([
      'playbooks/rolling-upgrade.yml',
      ...args,
      '-e',
      `kiln_release_archive=${upgrade}`,
    ]);
    running = false;
    await Promise.all(load);
    assert.equal(run.code, 0, summary(run));

    // Every job of the load finished well, each on its first attempt: none was lost or moved.
    assert.ok(jobs.length >= 4, `only ${jobs.length} jobs ran during the upgrade`);
    assert.deepEqual(refused, [], 'one builder stayed available for every job');
    for (const j of jobs) {
      const done = await waitJob(admin, j.id);
      assert.deepEqual([done.state, done.exitCode, done.attempt], ['succeeded', 0, 1], JSON.stringify(done));
    }
    // Both run the new release, as new agents, and take jobs again.
    for (const h of hosts) assert.match(ssh(h, 'readlink /opt/kiln/current'), /kiln-upgrade-/);
    const afterUp = (await api(admin, '/api/v1/status')).body as {
      builders: { id: string; name: string; live: boolean; draining: boolean }[];
    };
    const live = afterUp.builders.filter((b) => b.live);
    assert.deepEqual(live.map((b) => b.name).sort(), HOSTS);
    for (const b of live) {
      assert.ok(!oldIds.has(b.id), `${b.id} was not restarted`);
      assert.equal(b.draining, false);
    }
    // serial: 1 — the second host was drained only after the first was undrained.
    const drains = [
      ...run.output.matchAll(/TASK \[(Drain|Undrain) the builder\][\s\S]*?(?:ok|changed): \[(lb\d)/g),
    ].map((m) => `${m[1]} ${m[2]}`);
    assert.deepEqual(drains, ['Drain lb1', 'Undrain lb1', 'Drain lb2', 'Undrain lb2']);
  });
});
