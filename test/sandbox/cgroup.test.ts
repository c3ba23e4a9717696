/**
 * The cgroup manager: against this host's real hierarchy (v1 here, v2 on most production hosts),
 * against a cgroup v2 layout written into a temp dir (only the file protocol can be checked
 * there: the kernel's side is absent), its fallback, and the process-tree fallback group.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createCgroupManager } from '../../builders/linux/cgroup.ts';
import { processTree, processTreeGroup } from '../../builders/linux/process-tree.ts';

const T = { timeout: 30_000 };
const MiB = 1024 * 1024;

/** A shell running `script` once it reads a line: {@link go} lets it start after a move. */
function sleeper(script = 'sleep 30'): ChildProcess {
  return spawn('/bin/sh', ['-c', `read _; ${script}`], { stdio: ['pipe', 'ignore', 'ignore'] });
}
const go = (c: ChildProcess): void => void c.stdin?.end('\n');
/** True for a live process (a zombie waiting for its parent to reap it counts as gone). */
const alive = (pid: number): boolean => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
};
const exited = (c: ChildProcess): Promise<unknown> =>
  c.exitCode !== null || c.signalCode !== null ? Promise.resolve() : once(c, 'exit');
/** The job groups (`g-*`) under `parent` of the hierarchy at `dir`. */
const groupsIn = (dir: string, parent: string): Promise<string[]> =>
  readdir(join(dir, parent)).then(
    (n) => n.filter((e) => e.startsWith('g-')).sort(),
    () => [],
  );

describe('cgroup manager on this host', { skip: process.getuid?.() !== 0 ? 'needs root' : false }, () => {
  const parent = `kiln-cgtest-${process.pid}`;
  after(async () => {
    for (const c of ['', ...(await readdir('/sys/fs/cgroup').catch(() => [] as string[]))]) {
      await rmdir(join('/sys/fs/cgroup', c, parent)).catch(() => undefined);
    }
  });

  it(
    'detects a usable version, groups, limits, kills, keeps the emptied group and removes it on close',
    T,
    async () => {
      const notices: string[] = [];
      const m = createCgroupManager({ parent, log: (n) => notices.push(n) });
      const mode = await m.detect();
      assert.ok(mode === 'v1' || mode === 'v2', `mode ${mode}: ${notices.join('; ')}`);
      const g = await m.create({ memoryBytes: 64 * MiB, pids: 20 });
      assert.ok(g);
      const memRoot = mode === 'v2' ? '/sys/fs/cgroup' : '/sys/fs/cgroup/memory';
      const names = await groupsIn(memRoot, parent);
      assert.equal(names.length, 1);
      const memDir = join(memRoot, parent, names[0]!);
      const memFile = mode === 'v2' ? 'memory.max' : 'memory.limit_in_bytes';
      assert.equal((await readFile(join(memDir, memFile), 'utf8')).trim(), String(64 * MiB));

      const child = sleeper('sleep 30 & sleep 30 & wait');
      await g.add(child.pid as number);
      go(child);
      // The children are forked after the move; wait until the group holds all three.
      while ((await g.pids()).length < 3) await new Promise((r) => setTimeout(r, 5));
      const pids = await g.pids();
      assert.ok(pids.includes(child.pid as number));
      assert.equal(await g.oomKilled(), false);
      await g.killAll();
      await exited(child);
      assert.equal(child.signalCode, 'SIGKILL');
      await g.remove();
      assert.ok(
        pids.every((p) => !alive(p)),
        'every process of the group is gone',
      );
      assert.ok(existsSync(memDir), 'the emptied group is kept for the next job');
      assert.equal((await readFile(join(memDir, 'cgroup.procs'), 'utf8')).trim(), '');
      await m.close();
      assert.ok(!existsSync(memDir), 'close removes the free groups');
    },
  );

  it(
    "moves a process into the group of every controller (v1: each controller's cgroup.procs)",
    T,
    async () => {
      const own = `${parent}-move`;
      const m = createCgroupManager({ parent: own, log: () => undefined });
      const mode = await m.detect();
      const child = sleeper();
      try {
        const g = await m.create({ memoryBytes: 64 * MiB, pids: 20 });
        assert.ok(g);
        await g.add(child.pid as number);
        const roots =
          mode === 'v2'
            ? ['/sys/fs/cgroup']
            : ['memory', 'pids', 'freezer', 'cpu']
                .map((c) => join('/sys/fs/cgroup', c))
                .filter((d) => existsSync(join(d, own)));
        assert.ok(roots.length >= (mode === 'v2' ? 1 : 2), `controllers: ${roots.join(', ')}`);
        for (const root of roots) {
          const [name] = await groupsIn(root, own);
          assert.ok(name, `a job group under ${root}`);
          const procs = (await readFile(join(root, own, name, 'cgroup.procs'), 'utf8')).split('\n');
          assert.ok(procs.includes(String(child.pid)), `${root}: the process is in its group`);
        }
        go(child);
        await g.remove();
        await exited(child);
        assert.equal(child.signalCode, 'SIGKILL', 'remove killed what the group held');
      } finally {
        child.kill('SIGKILL');
        await m.close();
        for (const c of ['', ...(await readdir('/sys/fs/cgroup').catch(() => [] as string[]))])
          await rmdir(join('/sys/fs/cgroup', c, own)).catch(() => undefined);
      }
    },
  );

  it("reuses an emptied group: the OOM kill and the limits are each job's own", T, async () => {
    const own = `${parent}-reuse`;
    const m = createCgroupManager({ parent: own, log: () => undefined });
    const mode = await m.detect();
    const memRoot = mode === 'v2' ? '/sys/fs/cgroup' : '/sys/fs/cgroup/memory';
    const pidsRoot = mode === 'v2' ? '/sys/fs/cgroup' : '/sys/fs/cgroup/pids';
    const memFile = mode === 'v2' ? 'memory.max' : 'memory.limit_in_bytes';
    try {
      const g1 = await m.create({ memoryBytes: 32 * MiB, pids: 20 });
      assert.ok(g1);
      // tail keeps every byte of a stream without newlines: it grows until the OOM killer takes it.
      const hog = sleeper('head -c 400000000 /dev/zero | tail');
      await g1.add(hog.pid as number);
      go(hog);
      await exited(hog);
      assert.notEqual(hog.exitCode, 0);
      assert.equal(await g1.oomKilled(), true, 'job 1 was killed for memory');
      await g1.remove();
      const first = await groupsIn(memRoot, own);
      assert.equal(first.length, 1);

      const g2 = await m.create({ memoryBytes: 48 * MiB, pids: 30 });
      assert.ok(g2);
      assert.deepEqual(await groupsIn(memRoot, own), first, 'job 2 got the same group');
      const dir = (root: string): string => join(root, own, first[0]!);
      assert.equal((await readFile(join(dir(memRoot), memFile), 'utf8')).trim(), String(48 * MiB));
      assert.equal((await readFile(join(dir(pidsRoot), 'pids.max'), 'utf8')).trim(), '30');
      assert.equal(await g2.oomKilled(), false, "job 1's OOM kill is not job 2's");
      const job = sleeper('sleep 30');
      await g2.add(job.pid as number);
      // Job 1's view of the group is inert: it reaches none of job 2's processes.
      assert.deepEqual(await g1.pids(), []);
      assert.equal(await g1.signal('SIGKILL'), 0);
      await g1.remove();
      assert.deepEqual(await g2.pids(), [job.pid]);
      go(job);
      await g2.killAll();
      await exited(job);
      assert.equal(await g2.oomKilled(), false);
      await g2.remove();
      assert.deepEqual(await groupsIn(memRoot, own), first, 'given back once');
    } finally {
      await m.close();
      for (const r of [memRoot, pidsRoot]) assert.deepEqual(await groupsIn(r, own), []);
      for (const c of ['', ...(await readdir('/sys/fs/cgroup').catch(() => [] as string[]))])
        await rmdir(join('/sys/fs/cgroup', c, own)).catch(() => undefined);
    }
  });

  it('keeps at most `keepFree` emptied groups and removes the rest', T, async () => {
    const own = `${parent}-keep`;
    const m = createCgroupManager({ parent: own, keepFree: 2, log: () => undefined });
    const mode = await m.detect();
    const memRoot = mode === 'v2' ? '/sys/fs/cgroup' : '/sys/fs/cgroup/memory';
    try {
      const groups = await Promise.all([1, 2, 3].map(() => m.create({ memoryBytes: 64 * MiB, pids: 20 })));
      assert.equal((await groupsIn(memRoot, own)).length, 3);
      for (const g of groups) await g?.remove();
      assert.equal((await groupsIn(memRoot, own)).length, 2);
    } finally {
      await m.close();
      assert.deepEqual(await groupsIn(memRoot, own), []);
      for (const c of ['', ...(await readdir('/sys/fs/cgroup').catch(() => [] as string[]))])
        await rmdir(join('/sys/fs/cgroup', c, own)).catch(() => undefined);
    }
  });

  it('signals every process but the excepted ones', T, async () => {
    const m = createCgroupManager({ parent, log: () => undefined });
    const g = await m.create({ memoryBytes: 64 * MiB, pids: 20 });
    assert.ok(g);
    const a = sleeper();
    const b = sleeper();
    await g.add(a.pid as number);
    await g.add(b.pid as number);
    assert.equal(await g.signal('SIGTERM', new Set([b.pid as number])), 1);
    await exited(a);
    assert.equal(a.signalCode, 'SIGTERM');
    assert.ok(alive(b.pid as number));
    await g.remove();
    await exited(b);
    assert.equal(b.signalCode, 'SIGKILL');
    await m.close();
  });

  // Regression (issue 15, item 5): two builders sharing a parent with stale empty groups swept the
  // same groups at once; the one that lost a race cached a rejected detection and failed every job.
  it('two builders sharing a parent with stale empty groups both keep working', T, async () => {
    const shared = `${parent}-shared`;
    const seed = createCgroupManager({ parent: shared, log: () => undefined });
    const mode = await seed.detect();
    assert.ok(mode === 'v1' || mode === 'v2');
    const hierarchies =
      mode === 'v2' ? ['/sys/fs/cgroup'] : ['memory', 'pids'].map((c) => join('/sys/fs/cgroup', c));
    const stale = Array.from({ length: 120 }, (_, i) => `left-${i}`);
    for (const h of hierarchies) for (const s of stale) await mkdir(join(h, shared, s), { recursive: true });
    // "Stale" means created at least staleAfterMs (0) ago: ctime has sub-millisecond digits.
    const newest = Math.max(...hierarchies.map((h) => statSync(join(h, shared, stale.at(-1)!)).ctimeMs));
    while (Date.now() <= newest) await new Promise((r) => setImmediate(r));
    try {
      const notices: string[] = [];
      const make = (): ReturnType<typeof createCgroupManager> =>
        createCgroupManager({ parent: shared, staleAfterMs: 0, log: (n) => notices.push(n) });
      const [a, b] = [make(), make()];
      const modes = await Promise.all([a.detect(), b.detect()]);
      assert.deepEqual(modes, [mode, mode], notices.join('; '));
      for (const h of hierarchies)
        for (const s of stale)
          assert.ok(!existsSync(join(h, shared, s)), `${s} swept; ${notices.join('; ')}`);
      const groups = await Promise.all([
        a.create({ memoryBytes: 64 * MiB, pids: 20 }),
        b.create({ memoryBytes: 64 * MiB, pids: 20 }),
      ]);
      assert.ok(groups[0] && groups[1], 'both builders still create job groups');
      await Promise.all(groups.map((g) => g?.remove()));
      await Promise.all([a.close(), b.close()]);
      assert.ok(!notices.some((n) => /not usable|WITHOUT/.test(n)), notices.join('; '));
    } finally {
      for (const h of hierarchies) {
        for (const s of stale) await rmdir(join(h, shared, s)).catch(() => undefined);
        await rmdir(join(h, shared)).catch(() => undefined);
      }
    }
  });
});

describe('cgroup v2 file protocol (a fake hierarchy in a temp dir)', () => {
  let root: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'kiln-fake-cgroup2-'));
    await writeFile(join(root, 'cgroup.controllers'), 'cpuset cpu io memory pids\n');
    // As on a host whose subtree is already delegated to us (systemd Delegate=yes).
    await writeFile(join(root, 'cgroup.subtree_control'), 'cpu memory pids\n');
    await mkdir(join(root, 'kiln'));
    await writeFile(join(root, 'kiln', 'cgroup.subtree_control'), 'cpu memory pids\n');
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('writes limits, moves, lists, signals, kills, reads OOM kills', T, async () => {
    const m = createCgroupManager({ root, log: () => undefined });
    assert.equal(await m.detect(), 'v2');
    const g = await m.create({ memoryBytes: 64 * MiB, pids: 50, cpus: 1.5 });
    assert.ok(g);
    const [name = ''] = await groupsIn(root, 'kiln');
    const dir = join(root, 'kiln', name);
    const read = async (f: string): Promise<string> => (await readFile(join(dir, f), 'utf8')).trim();
    assert.equal(await read('memory.max'), String(64 * MiB));
    assert.equal(await read('memory.swap.max'), '0');
    assert.equal(await read('pids.max'), '50');
    assert.equal(await read('cpu.max'), '150000 100000');

    const child = sleeper();
    await g.add(child.pid as number);
    assert.equal(await read('cgroup.procs'), String(child.pid));
    assert.deepEqual(await g.pids(), [child.pid]);
    assert.equal(await g.signal('SIGTERM'), 1);
    await exited(child);
    assert.equal(child.signalCode, 'SIGTERM');

    assert.equal(await g.oomKilled(), false);
    await writeFile(join(dir, 'memory.events'), 'low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n');
    assert.equal(await g.oomKilled(), true);

    await writeFile(join(dir, 'cgroup.kill'), '');
    await g.killAll();
    assert.equal(await read('cgroup.kill'), '1');

    // A real cgroup directory can be removed with its files; a plain one must be emptied first.
    for (const f of await readdir(dir)) await rm(join(dir, f));
    await g.remove();
    assert.ok(existsSync(dir), 'kept for the next job');
    await m.close();
    assert.ok(!existsSync(dir));
  });

  it('removes empty job groups left by a dead builder, and only those', T, async () => {
    const top = await mkdtemp(join(tmpdir(), 'kiln-fake-cgroup2-'));
    try {
      await writeFile(join(top, 'cgroup.controllers'), 'memory pids\n');
      await writeFile(join(top, 'cgroup.subtree_control'), 'memory pids\n');
      await mkdir(join(top, 'kiln', 'left-over'), { recursive: true });
      await mkdir(join(top, 'kiln', 'busy'));
      await writeFile(join(top, 'kiln', 'busy', 'cgroup.procs'), '4242\n');
      await writeFile(join(top, 'kiln', 'cgroup.subtree_control'), 'memory pids\n');
      const notices: string[] = [];
      const m = createCgroupManager({ root: top, staleAfterMs: 0, log: (n) => notices.push(n) });
      assert.equal(await m.detect(), 'v2');
      assert.ok(!existsSync(join(top, 'kiln', 'left-over')));
      assert.ok(existsSync(join(top, 'kiln', 'busy')));
      assert.match(notices.join('\n'), /removed 1 empty job cgroup/);
    } finally {
      await rm(top, { recursive: true, force: true });
    }
  });

  it('refuses a hierarchy that cannot give memory and pids to its children', T, async () => {
    const bare = await mkdtemp(join(tmpdir(), 'kiln-fake-cgroup2-'));
    try {
      await writeFile(join(bare, 'cgroup.controllers'), 'cpu io\n');
      const notices: string[] = [];
      const m = createCgroupManager({ root: bare, log: (n) => notices.push(n) });
      assert.equal(await m.detect(), 'none');
      assert.equal(await m.create({ memoryBytes: MiB, pids: 8 }), null);
      assert.equal(await m.create({ memoryBytes: MiB, pids: 8 }), null);
      assert.equal(notices.length, 1, 'the fallback is reported once');
      assert.match(notices[0] ?? '', /WITHOUT memory\/pids limits/);
    } finally {
      await rm(bare, { recursive: true, force: true });
    }
  });
});

describe('cgroup helpers', () => {
  it('refuses a parent that climbs out of the hierarchy', () => {
    assert.throws(() => createCgroupManager({ parent: '../x' }), /relative path/);
    assert.throws(() => createCgroupManager({ parent: '/abs' }), /relative path/);
  });
});

describe('process-tree fallback', () => {
  it('finds descendants, signals and kills them all', T, async () => {
    const child = sleeper('sleep 30 & sleep 30 & wait');
    go(child);
    const root = child.pid as number;
    while ((await processTree(root)).length < 3) await new Promise((r) => setTimeout(r, 5));
    const tree = await processTree(root);
    assert.equal(tree.length, 3);
    assert.ok(tree.includes(root));
    const g = processTreeGroup();
    await g.add(root);
    assert.deepEqual((await g.pids()).sort(), [...tree].sort());
    assert.equal(await g.oomKilled(), false);
    await g.killAll();
    await exited(child);
    await g.remove();
    assert.ok(tree.every((p) => !alive(p)));
  });

  it('keeps track of orphans once their parent is gone', T, async () => {
    const child = sleeper('sleep 30 & wait');
    const g = processTreeGroup();
    await g.add(child.pid as number);
    go(child);
    while ((await g.pids()).length < 2) await new Promise((r) => setTimeout(r, 5));
    const orphan = (await g.pids()).find((p) => p !== child.pid) as number;
    child.kill('SIGKILL');
    await exited(child);
    assert.deepEqual(await g.pids(), [orphan]);
    await g.remove();
    assert.equal(alive(orphan), false);
  });
});
