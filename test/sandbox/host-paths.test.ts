/**
 * Nothing of the host's layout shows inside a real bwrap job of a real farm: bwrap's own command
 * line (the sandbox's pid 1) carries only `--args FD` and the job's argv, mountinfo shows the job
 * directory as a loop device's `/job`, and the job directory names are opaque. The job reads
 * every /proc file that could tell, and the test asserts that none holds the builder's work
 * directory, the builder id, the job id or the tenant.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startDevFarm, type DevFarm } from '../../wiring/dev-farm.ts';
import { api, readLog, waitJob, type Client } from '../helpers/http.ts';

const TENANT = 'hidden-tenant-q7x';
const TOKEN = 'host-paths-token-0123456789abcdef';
const PROBE = [
  'for f in /proc/[0-9]*/cmdline /proc/[0-9]*/environ /proc/self/mountinfo /proc/self/cgroup /proc/self/mounts; do',
  '  echo "== $f"; tr "\\0" " " < "$f"; echo',
  'done',
  'echo "== pwd $(pwd)"',
  'ls -la /job /proc/1/fd 2>&1',
].join('\n');

describe('host paths are hidden from the sandbox', { timeout: 120_000 }, () => {
  let farm: DevFarm;
  let c: Client;
  before(async () => {
    farm = await startDevFarm({
      builders: 1,
      slots: 1,
      port: 0,
      authMethods: [{ type: 'token', tokens: [{ token: TOKEN, sub: 'hp', tenant: TENANT }] }],
    });
    c = { url: farm.url, token: TOKEN };
  });
  after(async () => {
    await farm?.stop();
  });

  it('/proc/*/cmdline, environ, mountinfo and cgroup name no host path, builder, job or tenant', async () => {
    const r = await api(c, '/api/v1/jobs', {
      method: 'POST',
      json: { argv: ['sh', '-c', PROBE], env: { PROBE_VAR: 'x' } },
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const id = (r.body as { job: { id: string } }).job.id;
    const job = await waitJob(c, id);
    assert.equal(job.state, 'succeeded', JSON.stringify(job));
    const { stdout } = await readLog(c, id);
    const bid = String(job.builder);
    assert.match(bid, /^dev0-[0-9a-f]{8}$/);
    assert.match(
      stdout,
      // The job's argv, or the waiter of a sandbox made ready ahead (builders/linux/waiter.ts).
      /== \/proc\/1\/cmdline\n\S*bwrap --args \d+ -- (sh -c |\/bin\/sh -c echo ready)/,
      'pid 1 is bwrap with its options on a descriptor',
    );
    assert.match(
      stdout,
      /\/job \/job \S+ - ext4 \/dev\/loop\d+ /,
      'the job directory is a loop device’s /job',
    );
    assert.match(stdout, /PROBE_VAR=x/, "the job's own environment is there");
    const secrets: [string, string][] = [
      ['the work directory', farm.dataDir],
      ['the job id', id],
      ['the tenant', TENANT],
      ['the builder id', bid],
      ['the builder name', 'dev0'],
    ];
    for (const [what, s] of secrets) assert.ok(!stdout.includes(s), `${what} (${s}) shows in:\n${stdout}`);
  });
});
