import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../wiring/load-config.ts';
import { builderConfigSchema } from '../../builders/core/config.ts';
import { gatewayConfigSchema } from '../../gateway/config.ts';

const storage = { type: 'local', dir: '/var/lib/kiln/store' };

test('environment overrides: nested keys, plain top-level keys, JSON values; client settings ignored', () => {
  const cfg = loadConfig(builderConfigSchema, {
    base: { redis: { url: 'redis://a:1' }, storage },
    env: {
      KILN_SLOTS: '7',
      KILN_WORK_DIR: '/srv/kiln',
      KILN_REDIS__URL: 'rediss://u:p@redis:6380',
      KILN_SANDBOX__CGROUP_PARENT: 'farm',
      KILN_TOKEN: 'not-a-builder-key',
      KILN_REDIS: 'ignored: a section cannot be set as one variable',
    },
  });
  assert.equal(cfg.slots, 7);
  assert.equal(cfg.workDir, '/srv/kiln');
  assert.equal(cfg.redis.url, 'rediss://u:p@redis:6380');
  assert.equal(cfg.sandbox.cgroupParent, 'farm');
});

test('every problem is reported at once, each with its path, also from a file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-cfg-'));
  try {
    const file = join(dir, 'gateway.toml');
    await writeFile(file, '[redis]\nurl = "http://nope"\n[listen]\nport = "eighty"\ncolour = 1\n');
    assert.throws(
      () => loadConfig(gatewayConfigSchema, { file, env: { KILN_LIMITS__MAX_ATTEMPTS: '99' } }),
      (err: Error & { code?: string }) =>
        err.code === 'ERR_CONFIG' &&
        /redis\.url/.test(err.message) &&
        /listen\.port/.test(err.message) &&
        /listen/.test(err.message) &&
        /storage/.test(err.message) &&
        /auth/.test(err.message) &&
        /limits\.maxAttempts/.test(err.message),
    );
    await writeFile(file, 'not toml = = =');
    assert.throws(() => loadConfig(gatewayConfigSchema, { file, env: {} }), /not valid TOML/);
    assert.throws(
      () => loadConfig(gatewayConfigSchema, { file: join(dir, 'missing.toml'), env: {} }),
      /cannot read config file/,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
