/**
 * Where the client keeps its files on each OS: settings and credentials in the platform's
 * config place (`%APPDATA%\kiln` on Windows, `~/Library/Application Support/kiln` on macOS,
 * `$XDG_CONFIG_HOME/kiln` or `~/.config/kiln` elsewhere), and the `kiln cc` statistics in its
 * cache place (`%LOCALAPPDATA%\kiln`, `~/Library/Caches/kiln`, `$XDG_CACHE_HOME/kiln` or
 * `~/.cache/kiln`). The OS is a parameter, so every convention is testable on any host.
 */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';

export interface Host {
  /** @default process.platform */
  platform?: NodeJS.Platform;
  /** The user's home. @default $HOME (or %USERPROFILE% on Windows), else os.homedir() */
  home?: string;
}

function homeOf(env: NodeJS.ProcessEnv, h: Host, win: boolean): string {
  return h.home ?? (win ? env.USERPROFILE : env.HOME) ?? env.HOME ?? homedir();
}

/** The directory of kiln.toml and the stored logins (client/auth/store.ts); `KILN_CONFIG_DIR` overrides it. */
export function configDir(env: NodeJS.ProcessEnv, h: Host = {}): string {
  if (env.KILN_CONFIG_DIR) return env.KILN_CONFIG_DIR;
  const platform = h.platform ?? process.platform;
  const win = platform === 'win32';
  const home = homeOf(env, h, win);
  if (win) return path.win32.join(env.APPDATA || path.win32.join(home, 'AppData', 'Roaming'), 'kiln');
  if (platform === 'darwin') return path.posix.join(home, 'Library', 'Application Support', 'kiln');
  return path.posix.join(env.XDG_CONFIG_HOME || path.posix.join(home, '.config'), 'kiln');
}

/** The directory of kiln's cache files (the `kiln cc` statistics). */
export function cacheDir(env: NodeJS.ProcessEnv, h: Host = {}): string {
  const platform = h.platform ?? process.platform;
  const win = platform === 'win32';
  const home = homeOf(env, h, win);
  if (win) return path.win32.join(env.LOCALAPPDATA || path.win32.join(home, 'AppData', 'Local'), 'kiln');
  if (platform === 'darwin') return path.posix.join(home, 'Library', 'Caches', 'kiln');
  return path.posix.join(env.XDG_CACHE_HOME || path.posix.join(home, '.cache'), 'kiln');
}

/** The settings file: $KILN_CONFIG, else ./kiln.toml, else kiln.toml in {@link configDir}; null if none exists. */
export function configFile(cwd: string, env: NodeJS.ProcessEnv, h: Host = {}): string | null {
  if (env.KILN_CONFIG) return env.KILN_CONFIG;
  const p = (h.platform ?? process.platform) === 'win32' ? path.win32 : path.posix;
  for (const f of [p.join(cwd, 'kiln.toml'), p.join(configDir(env, h), 'kiln.toml')])
    if (existsSync(f)) return f;
  return null;
}
