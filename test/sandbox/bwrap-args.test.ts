/** bwrapArgs: the sandbox's command line is complete, and a toolchain root replaces the host's /usr. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KilnError } from '../../protocol/errors.ts';
import { bwrapArgs, sandboxCwd } from '../../builders/linux/bwrap-args.ts';
import { loadProfile, type Profile } from '../../builders/linux/profile.ts';

const profile: Profile = await loadProfile('default');
const req: { argv: string[]; env: Record<string, string>; cwd: string } = {
  argv: ['cc', '-c', 'a.c'],
  env: { HOME: '/job/home', CC: 'gcc' },
  cwd: 'src/lib',
};
const host = { jobDir: '/var/lib/kiln/jobs/j1/root', statusFd: 4, seccompFd: 5 };

/** True when `seq` appears in `argv` as consecutive elements. */
function has(argv: readonly string[], ...seq: string[]): boolean {
  return argv.some((_, i) => seq.every((s, j) => argv[i + j] === s));
}

/** bwrap's options only (what comes before `--`). */
const options = (argv: string[]): string[] => argv.slice(0, argv.indexOf('--'));

describe('bwrapArgs', () => {
  it('isolates: every namespace, no caps, new session, dies with its parent', () => {
    const a = options(bwrapArgs(profile, req, host));
    for (const ns of ['user', 'pid', 'ipc', 'uts', 'net', 'cgroup']) assert.ok(has(a, `--unshare-${ns}`), ns);
    for (const flag of ['--disable-userns', '--die-with-parent', '--new-session'])
      assert.ok(has(a, flag), flag);
    assert.ok(has(a, '--cap-drop', 'ALL'));
    assert.ok(has(a, '--hostname', 'kiln'));
    assert.ok(has(a, '--seccomp', '5'));
    assert.ok(has(a, '--json-status-fd', '4'));
  });

  it('mounts the host system read-only, fresh /proc /dev /tmp, the job dir read-write', () => {
    const a = options(bwrapArgs(profile, req, host));
    assert.ok(has(a, '--ro-bind', '/usr', '/usr'));
    assert.ok(has(a, '--symlink', 'usr/lib', '/lib'));
    assert.ok(has(a, '--proc', '/proc'));
    assert.ok(has(a, '--dev', '/dev'));
    assert.ok(has(a, '--tmpfs', '/tmp'));
    assert.ok(has(a, '--bind', host.jobDir, '/job'));
    assert.ok(has(a, '--remount-ro', '/'));
    assert.ok(has(a, '--chdir', '/job/src/lib'));
    // the only writable binds are the job directory
    const rw = a.flatMap((x, i) => (x === '--bind' || x === '--dev-bind' ? [a[i + 1]] : []));
    assert.deepEqual(rw, [host.jobDir]);
  });

  it("bounds /tmp by the profile's size and the job's memory limit (its pages are the job's memory)", () => {
    const MiB = 1024 * 1024;
    assert.ok(has(options(bwrapArgs(profile, req, host)), '--size', String(1024 * MiB), '--tmpfs', '/tmp'));
    const small = options(bwrapArgs(profile, req, { ...host, tmpfsMaxMiB: 256 }));
    assert.ok(has(small, '--size', String(256 * MiB), '--tmpfs', '/tmp'));
    const unsized: Profile = { ...profile, tmpfs: [{ path: '/scratch' }] };
    const u = options(bwrapArgs(unsized, req, { ...host, tmpfsMaxMiB: 512 }));
    assert.ok(has(u, '--size', String(512 * MiB), '--tmpfs', '/scratch'));
  });

  it("binds the job disk's tmp directory at /tmp instead of a tmpfs, and only there", () => {
    const scratch: Profile = { ...profile, tmpfs: [...profile.tmpfs, { path: '/scratch' }] };
    const a = options(bwrapArgs(scratch, req, { ...host, tmpDir: '/work/j1/fs/tmp' }));
    assert.ok(has(a, '--bind', '/work/j1/fs/tmp', '/tmp'));
    assert.ok(!has(a, '--tmpfs', '/tmp'), 'no tmpfs at /tmp');
    assert.ok(has(a, '--tmpfs', '/scratch'), 'another tmpfs of the profile stays one');
    const rw = a.flatMap((x, i) => (x === '--bind' || x === '--dev-bind' ? [a[i + 1]] : []));
    assert.deepEqual(rw, ['/work/j1/fs/tmp', host.jobDir]);
  });

  it('clears the environment and sets the job env over the profile base env', () => {
    const a = options(bwrapArgs(profile, req, host));
    const clear = a.indexOf('--clearenv');
    assert.ok(clear >= 0);
    const sets = a.flatMap((x, i) => (x === '--setenv' ? [[a[i + 1], a[i + 2]]] : []));
    assert.ok(a.indexOf('--setenv') > clear);
    assert.deepEqual(Object.fromEntries(sets), { ...profile.env, HOME: '/job/home', CC: 'gcc' });
  });

  it('puts the command after --, untouched', () => {
    const a = bwrapArgs(profile, { ...req, argv: ['--help', '$X', 'a b'] }, host);
    assert.deepEqual(a.slice(a.indexOf('--') + 1), ['--help', '$X', 'a b']);
  });

  it('binds a toolchain root as the system instead of the host /usr', () => {
    const root = {
      dir: '/cache/tc/abc',
      entries: [
        { name: 'usr', kind: 'dir' as const },
        { name: 'etc', kind: 'dir' as const },
        { name: 'lib', kind: 'symlink' as const, target: 'usr/lib' },
        { name: 'proc', kind: 'dir' as const },
        { name: 'tmp', kind: 'dir' as const },
      ],
    };
    const a = options(bwrapArgs(profile, req, { ...host, root }));
    assert.ok(has(a, '--ro-bind', '/cache/tc/abc/usr', '/usr'));
    assert.ok(has(a, '--ro-bind', '/cache/tc/abc/etc', '/etc'));
    assert.ok(has(a, '--symlink', 'usr/lib', '/lib'));
    assert.ok(!has(a, '--ro-bind', '/usr', '/usr'), 'no host /usr');
    assert.ok(!a.some((x) => x === '/etc/ld.so.cache'), 'no host /etc files');
    assert.ok(!has(a, '--ro-bind', '/cache/tc/abc/proc', '/proc'), 'the runner owns /proc');
    assert.ok(!has(a, '--ro-bind', '/cache/tc/abc/tmp', '/tmp'), 'the runner owns /tmp');
  });

  it('omits --seccomp when no filter is passed', () => {
    const a = bwrapArgs(profile, req, { jobDir: '/j' });
    assert.ok(!a.includes('--seccomp'));
  });

  it('rejects a cwd outside the job directory, bad env names and an empty argv', () => {
    const bad = (r: Partial<typeof req> & { argv?: string[] }): void =>
      assert.throws(
        () => bwrapArgs(profile, { ...req, ...r }, host),
        (e: unknown) => {
          assert.ok(e instanceof KilnError);
          assert.equal(e.code, 'ERR_VALIDATION');
          return true;
        },
      );
    bad({ cwd: '../etc' });
    bad({ cwd: '/etc' });
    bad({ cwd: 'a/../../x' });
    bad({ env: { 'A=B': 'x' } });
    bad({ env: { A: 'x\0y' } });
    bad({ argv: [] });
  });

  it('maps "." to the job mount itself', () => {
    assert.equal(sandboxCwd('.'), '/job');
    assert.equal(sandboxCwd('a/./b'), '/job/a/b');
  });
});
