/** Sandbox profiles: every shipped profile is valid; bad names and bad files are refused clearly. */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { KilnError } from '../../protocol/errors.ts';
import { DEFAULT_PROFILES_DIR, loadProfile } from '../../builders/linux/profile.ts';

async function rejects(p: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof KilnError, String(err));
    assert.equal(err.code, code);
    assert.match(err.message, message);
    return true;
  });
}

describe('sandbox profiles', () => {
  let dir: string;
  let def: Record<string, unknown>;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kiln-profiles-'));
    def = JSON.parse(await readFile(join(DEFAULT_PROFILES_DIR, 'default.json'), 'utf8')) as Record<
      string,
      unknown
    >;
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const write = (name: string, value: unknown): Promise<void> =>
    writeFile(join(dir, `${name}.json`), typeof value === 'string' ? value : JSON.stringify(value));

  it('loads every profile in bwrap-profiles/', async () => {
    const names = (await readdir(DEFAULT_PROFILES_DIR)).filter((f) => f.endsWith('.json'));
    assert.ok(names.includes('default.json'));
    for (const f of names) {
      const p = await loadProfile(f.slice(0, -'.json'.length));
      assert.ok(p.uid !== 0 && p.gid !== 0, f);
      assert.ok(p.unshare.includes('net'), f);
    }
  });

  it('describes the default sandbox', async () => {
    const p = await loadProfile('default');
    assert.deepEqual([p.uid, p.gid], [65534, 65534]);
    assert.deepEqual([...p.unshare].sort(), ['cgroup', 'ipc', 'net', 'pid', 'user', 'uts']);
    assert.equal(p.env.HOME, '/tmp');
    assert.ok(p.hostSystem.roBind.some((b) => b.src === '/usr' && b.dest === '/usr'));
    assert.ok(p.tmpfs.some((t) => t.path === '/tmp'));
  });

  for (const name of ['../default', 'a/b', '.hidden', 'Default', '', '-x', 'x'.repeat(65), 'default.json']) {
    it(`refuses the name ${JSON.stringify(name)}`, async () => {
      await rejects(loadProfile(name, dir), 'ERR_VALIDATION', /invalid sandbox profile name/);
    });
  }

  it('refuses an unknown profile', async () => {
    await rejects(loadProfile('nope', dir), 'ERR_VALIDATION', /unknown sandbox profile "nope"/);
  });

  it("never shows the builder's own paths in a profile error", async () => {
    await write('broken', { ...def, uid: 0 });
    await writeFile(join(dir, 'notjson.json'), '{');
    for (const name of ['nope', 'broken', 'notjson']) {
      const err = await loadProfile(name, dir).then(
        () => null,
        (e: Error) => e,
      );
      assert.ok(err, name);
      assert.ok(!err.message.includes(dir) && !err.message.includes('/'), err.message);
    }
  });

  it('refuses unknown fields', async () => {
    await write('extra', { ...def, shareNetwork: true });
    await rejects(loadProfile('extra', dir), 'ERR_CONFIG', /shareNetwork/);
    await write('extra2', { ...def, hostSystem: { roBind: [{ src: '/usr', dest: '/usr', rw: true }] } });
    await rejects(loadProfile('extra2', dir), 'ERR_CONFIG', /rw/);
  });

  it('refuses a profile that keeps the network or runs as root', async () => {
    await write('net', { ...def, unshare: ['user', 'pid', 'ipc'] });
    await rejects(loadProfile('net', dir), 'ERR_CONFIG', /unshare.*net/);
    await write('root', { ...def, uid: 0 });
    await rejects(loadProfile('root', dir), 'ERR_CONFIG', /uid/);
  });

  it('refuses mounts over what the runner owns, and relative paths', async () => {
    await write('job', { ...def, tmpfs: [{ path: '/job/x' }] });
    await rejects(loadProfile('job', dir), 'ERR_CONFIG', /tmpfs/);
    await write('rel', { ...def, hostSystem: { roBind: [{ src: 'usr', dest: '/usr' }] } });
    await rejects(loadProfile('rel', dir), 'ERR_CONFIG', /absolute/);
  });

  it('refuses a file that is not JSON', async () => {
    await write('broken', '{ "uid": ');
    await rejects(loadProfile('broken', dir), 'ERR_CONFIG', /not JSON/);
  });
});
