import { test } from 'node:test';
import assert from 'node:assert/strict';
import { userConfigDir } from '../../client/auth/dirs.ts';

test("the user's config directory follows each platform's convention", () => {
  assert.equal(userConfigDir({ HOME: '/home/me' }, 'linux'), '/home/me/.config/kiln');
  assert.equal(userConfigDir({ HOME: '/home/me', XDG_CONFIG_HOME: '/xdg' }, 'linux'), '/xdg/kiln');
  assert.equal(userConfigDir({ HOME: '/Users/me' }, 'darwin'), '/Users/me/Library/Application Support/kiln');
  assert.equal(
    userConfigDir({ USERPROFILE: 'C:\\Users\\me', APPDATA: 'C:\\Users\\me\\AppData\\Roaming' }, 'win32'),
    'C:\\Users\\me\\AppData\\Roaming\\kiln',
  );
  assert.equal(userConfigDir({ HOME: '/home/me', KILN_CONFIG_DIR: '/elsewhere' }, 'linux'), '/elsewhere');
});
