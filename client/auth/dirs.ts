/** Where the client keeps per-user state: the platform's config directory, `kiln` inside it. */
import { homedir } from 'node:os';
import { join, win32 } from 'node:path';

/**
 * `$XDG_CONFIG_HOME/kiln` (or `~/.config/kiln`) on Linux and the BSDs, `%APPDATA%\kiln` on
 * Windows, `~/Library/Application Support/kiln` on macOS. `KILN_CONFIG_DIR` overrides all.
 */
export function userConfigDir(env: NodeJS.ProcessEnv, platform: NodeJS.Platform = process.platform): string {
  if (env.KILN_CONFIG_DIR) return env.KILN_CONFIG_DIR;
  const home = env.HOME || env.USERPROFILE || homedir();
  if (platform === 'win32') return win32.join(env.APPDATA || win32.join(home, 'AppData', 'Roaming'), 'kiln');
  if (platform === 'darwin') return join(home, 'Library', 'Application Support', 'kiln');
  return join(env.XDG_CONFIG_HOME || join(home, '.config'), 'kiln');
}
