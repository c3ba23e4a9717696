/** builder.toml's `[sandbox] type = "pot"`: defaults, and every problem reported at once. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { builderConfigSchema, sandboxType } from '../../builders/core/config.ts';
import { loadConfig } from '../../wiring/load-config.ts';
import { poolOwner } from '../../wiring/pot-sandbox.ts';

const base = {
  redis: { url: 'redis://127.0.0.1:6379' },
  storage: { type: 'local', dir: '/var/db/kiln/store' },
};

test('a FreeBSD builder takes the pot sandbox, with its settings', () => {
  const cfg = loadConfig(builderConfigSchema, {
    base: {
      ...base,
      name: 'bsd1.example',
      platform: 'freebsd-amd64',
      sandbox: {
        type: 'pot',
        template: 'kiln-build',
        poolSize: 3,
        potLeaseSec: 7200,
        loopbackNet: '127.0.5',
      },
    },
    env: { KILN_SANDBOX__CPUS: '2' },
  });
  assert.equal(sandboxType(cfg), 'pot');
  assert.equal(cfg.sandbox.poolSize, 3);
  assert.equal(cfg.sandbox.cpus, 2);
  assert.equal(poolOwner(cfg.name), 'bsd1_example');
  const aarch = loadConfig(builderConfigSchema, { base: { ...base, platform: 'freebsd-aarch64' }, env: {} });
  assert.equal(sandboxType(aarch), 'pot', 'pot is the default on freebsd-*');
  const linux = loadConfig(builderConfigSchema, { base: { ...base, platform: 'linux-x86_64' }, env: {} });
  assert.equal(sandboxType(linux), 'bwrap');
});

test('every problem of a pot sandbox section is reported at once, each with its path', () => {
  const bad = (sandbox: object, platform: string, slots: unknown = 2): string => {
    try {
      loadConfig(builderConfigSchema, { base: { ...base, platform, slots, sandbox }, env: {} });
    } catch (err) {
      assert.equal((err as { code?: string }).code, 'ERR_CONFIG');
      return (err as Error).message;
    }
    throw new Error('no error');
  };
  const m = bad(
    { type: 'pot', poolSize: 0, loopbackNet: '127.0.0', potPath: 'pot', potLeaseSec: 5, colour: 'red' },
    'linux-x86_64',
    'many',
  );
  for (const part of [
    /sandbox\.poolSize/,
    /sandbox\.loopbackNet: must not be 127\.0\.0/,
    /sandbox\.potPath: must be an absolute path/,
    /sandbox\.potLeaseSec/,
    /colour/,
    /sandbox\.type: "pot" runs on freebsd-\* platforms, not linux-x86_64/,
    /slots/,
  ])
    assert.match(m, part);
  const b = bad({ type: 'bwrap', template: 'kiln-build', loopbackNet: '10.0.0' }, 'freebsd-amd64');
  assert.match(b, /sandbox\.template: is read only with type = "pot"/);
  assert.match(b, /sandbox\.loopbackNet: must be three octets 127\.x\.y/);
  assert.match(b, /sandbox\.type: freebsd-amd64 needs type = "pot"/);
});
