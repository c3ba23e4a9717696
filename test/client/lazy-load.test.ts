/**
 * The CLI loads a command's module only when that command runs: `kiln --help` and `kiln status`
 * import nothing of the gateway, Redis, the builders or the AWS SDK. Each case runs the real
 * entry point (client/bin/kiln.js) in a child process that records every module it resolves.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const KILN = fileURLToPath(new URL('../../client/bin/kiln.js', import.meta.url));
const RECORD = fileURLToPath(new URL('../helpers/record-loads.mjs', import.meta.url));
const HEAVY =
  /\/node_modules\/(ioredis|@aws-sdk|@smithy|hono|@hono|ssh2|jose)\/|\/kiln[^/]*\/(gateway|redis|builders|wiring|storage)\//;

/** Runs `kiln args…` and returns the modules it loaded (file URLs) and its exit code. */
function loads(args: string[]): { code: number | null; modules: string[]; stderr: string } {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-loads-'));
  const file = join(dir, 'loads.txt');
  try {
    const r = spawnSync(process.execPath, ['--import', RECORD, KILN, ...args], {
      env: { PATH: process.env.PATH, HOME: dir, KILN_TEST_LOADS: file, KILN_GATEWAY: 'http://127.0.0.1:1' },
      encoding: 'utf8',
      timeout: 60_000,
    });
    const modules = readFileSync(file, 'utf8').split('\n').filter(Boolean);
    return { code: r.status, modules: [...new Set(modules)], stderr: r.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const names = (mods: string[], re: RegExp): string[] => mods.filter((m) => re.test(m));

describe('the CLI loads a command only when it runs', { timeout: 120_000 }, () => {
  it('kiln --help: the table, no command module', () => {
    const r = loads(['--help']);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(names(r.modules, /client\/commands\/index\.ts$/).length === 1, 'the command table is loaded');
    assert.deepEqual(names(r.modules, HEAVY), []);
    assert.deepEqual(names(r.modules, /client\/commands\/(?!index\.ts|servers\.ts)/), []);
  });

  it('kiln status: its module and the HTTP client, nothing heavy', () => {
    const r = loads(['status', 'some-job']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /cannot reach the kiln gateway/);
    assert.deepEqual(
      names(r.modules, /client\/commands\/.*\.ts$/).map((m) => m.replace(/.*client\/commands\//, '')),
      ['index.ts', 'servers.ts', 'status.ts'],
    );
    assert.equal(names(r.modules, /client\/http\.ts$/).length, 1);
    assert.deepEqual(names(r.modules, HEAVY), []);
  });

  it('the recorder sees heavy modules when a command needs them (kiln gateway)', () => {
    const r = loads(['gateway', '--config', '/nonexistent/gateway.toml']);
    assert.equal(r.code, 1, r.stderr);
    assert.ok(names(r.modules, /\/gateway\//).length > 0, 'kiln gateway loads the gateway');
  });
});
