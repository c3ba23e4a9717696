/**
 * `kiln host-check`'s cgroup probe (wiring/host-check.ts) on a directory playing the cgroup root:
 * builder containers of one machine share its cgroup tree, and their PID namespaces hand out the
 * same pids, so a probe named by the pid is one that another container's host-check may be making
 * at that moment. Its probe must be its own: it leaves another one's alone, and several at once
 * all pass. (The real cgroup tree, read-only, is in ./fleet-check.test.ts.)
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { builderConfigSchema } from '../../builders/core/config.ts';
import { checkHost } from '../../wiring/host-check.ts';

describe('host-check cgroup probe', () => {
  let dir: string;
  let root: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kiln-hostcheck-'));
    root = join(dir, 'cgroup');
    await mkdir(join(root, 'kiln-hc'), { recursive: true });
    await writeFile(join(root, 'cgroup.controllers'), 'memory pids\n'); // a cgroup v2 root
  });
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("leaves another host-check's probe of the same pid alone, and runs many at once", async () => {
    const cfg = builderConfigSchema.parse({
      name: 'hc',
      platform: 'linux-x86_64',
      workDir: join(dir, 'work'),
      redis: { url: 'redis://127.0.0.1:1' },
      storage: { type: 'local', dir: join(dir, 'store') },
      sandbox: { cgroupParent: 'kiln-hc' },
    });
    // What a host-check in another PID namespace, with this process's pid, holds right now.
    const foreign = join(root, 'kiln-hc', `.kiln-host-check-${process.pid}`);
    await mkdir(foreign);
    const reports = await Promise.all(
      Array.from({ length: 8 }, () => checkHost(cfg, { cgroupRoot: root, timeoutMs: 2000 })),
    );
    for (const r of reports) {
      assert.deepEqual(
        r.faults.filter((f) => f.code === 'cgroup-not-writable'),
        [],
        JSON.stringify(r.faults),
      );
    }
    assert.deepEqual(await readdir(join(root, 'kiln-hc')), [`.kiln-host-check-${process.pid}`]);
  });
});
