/** The client's files in each OS's place (client/dirs.ts), and kiln.toml found there for real. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { cacheDir, configDir, configFile } from '../../client/dirs.ts';
import { loadClientConfig } from '../../client/config.ts';

test('Windows: %APPDATA%\\kiln and %LOCALAPPDATA%\\kiln, else under %USERPROFILE%', () => {
  const env = { APPDATA: 'C:\\Users\\me\\AppData\\Roaming', LOCALAPPDATA: 'C:\\Users\\me\\AppData\\Local' };
  assert.equal(configDir(env, { platform: 'win32' }), 'C:\\Users\\me\\AppData\\Roaming\\kiln');
  assert.equal(cacheDir(env, { platform: 'win32' }), 'C:\\Users\\me\\AppData\\Local\\kiln');
  const bare = { USERPROFILE: 'D:\\home\\me' };
  assert.equal(configDir(bare, { platform: 'win32' }), 'D:\\home\\me\\AppData\\Roaming\\kiln');
  assert.equal(cacheDir(bare, { platform: 'win32' }), 'D:\\home\\me\\AppData\\Local\\kiln');
});

test('macOS: ~/Library/Application Support/kiln and ~/Library/Caches/kiln (XDG is not read)', () => {
  const env = { HOME: '/Users/me', XDG_CONFIG_HOME: '/elsewhere' };
  assert.equal(configDir(env, { platform: 'darwin' }), '/Users/me/Library/Application Support/kiln');
  assert.equal(cacheDir(env, { platform: 'darwin' }), '/Users/me/Library/Caches/kiln');
});

test('Linux and the BSDs: XDG, else ~/.config and ~/.cache', () => {
  assert.equal(configDir({ HOME: '/home/me' }, { platform: 'linux' }), '/home/me/.config/kiln');
  assert.equal(cacheDir({ HOME: '/home/me' }, { platform: 'freebsd' }), '/home/me/.cache/kiln');
  const xdg = { HOME: '/home/me', XDG_CONFIG_HOME: '/x/cfg', XDG_CACHE_HOME: '/x/cache' };
  assert.equal(configDir(xdg, { platform: 'linux' }), '/x/cfg/kiln');
  assert.equal(cacheDir(xdg, { platform: 'linux' }), '/x/cache/kiln');
});

test('KILN_CONFIG_DIR overrides the config place on every OS', () => {
  for (const platform of ['linux', 'darwin', 'win32'] as const)
    assert.equal(configDir({ HOME: '/home/me', KILN_CONFIG_DIR: '/elsewhere' }, { platform }), '/elsewhere');
});

test('kiln.toml: $KILN_CONFIG, else ./kiln.toml, else the config dir', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'kiln-dirs-'));
  try {
    const cfg = path.join(dir, 'cfg');
    const work = path.join(dir, 'work');
    mkdirSync(path.join(cfg, 'kiln'), { recursive: true });
    mkdirSync(work);
    const env = { HOME: dir, XDG_CONFIG_HOME: cfg };
    assert.equal(configFile(work, env, { platform: 'linux' }), null);
    writeFileSync(
      path.join(cfg, 'kiln', 'kiln.toml'),
      'gateway = "http://farm.example:8420"\ntoken = "t1"\n',
    );
    assert.equal(configFile(work, env, { platform: 'linux' }), path.join(cfg, 'kiln', 'kiln.toml'));
    const loaded = loadClientConfig(work, env);
    assert.deepEqual([loaded.gateway, loaded.token], ['http://farm.example:8420', 't1']);
    writeFileSync(path.join(work, 'kiln.toml'), 'gateway = "http://near.example/"\n');
    assert.equal(loadClientConfig(work, env).gateway, 'http://near.example');
    assert.equal(configFile(work, { ...env, KILN_CONFIG: '/etc/kiln.toml' }), '/etc/kiln.toml');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
