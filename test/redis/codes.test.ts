/**
 * The one table of script replies: every negative reply a script gives is a named entry of
 * redis/codes.ts (never a number), each entry has one meaning and one coded error, and every
 * script compiles on a real redis-server with the table in front of it.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { startLocalRedis, type LocalRedis } from '../../wiring/redis-server.ts';
import { SCRIPT_ERRORS, scriptError, checkReply, type ScriptErrorName } from '../../redis/codes.ts';
import { scriptSources } from '../../redis/scripts.ts';

const names = Object.keys(SCRIPT_ERRORS) as ScriptErrorName[];

describe('script reply codes', () => {
  let server: LocalRedis;
  let redis: Redis;
  before(async () => {
    server = await startLocalRedis();
    redis = new Redis(server.url);
  });
  after(async () => {
    redis.disconnect();
    await server.stop();
  });

  it('each code is negative and unique, and maps to its own coded error', () => {
    const values = names.map((n) => SCRIPT_ERRORS[n]);
    assert.ok(values.every((v) => Number.isInteger(v) && v < 0));
    assert.equal(new Set(values).size, values.length, 'no two names share a code');
    const messages = values.map((v) => scriptError(v, { job: 'j', platform: 'p', builder: 'b' }));
    assert.ok(
      messages.every((e) => e.code !== 'ERR_INTERNAL'),
      'every code has a mapping',
    );
    assert.equal(new Set(messages.map((e) => e.message)).size, values.length, 'one meaning each');
    assert.equal(scriptError(-99, {}).code, 'ERR_INTERNAL', 'an unknown reply is a bug, not a conflict');
    assert.throws(() => checkReply(SCRIPT_ERRORS.NO_JOB, { job: 'x' }), { code: 'ERR_JOB_NOT_FOUND' });
    assert.equal(checkReply('b1', {}), 'b1');
    assert.equal(checkReply(0, {}), 0);
  });

  it('scripts return names of the table, never negative numbers, and list them in their header', () => {
    const used = new Set<string>();
    for (const s of scriptSources()) {
      const body = s.lua.slice(s.lua.indexOf('--[['));
      const header = body.slice(0, body.indexOf(']]'));
      const code = body.slice(body.indexOf(']]'));
      assert.doesNotMatch(code, /return\s+-\s*\d/, `${s.file} returns a literal negative number`);
      for (const m of code.matchAll(/\bE\.([A-Z_]+)/g)) {
        const name = m[1]!;
        assert.ok(name in SCRIPT_ERRORS, `${s.file} uses E.${name}, which redis/codes.ts lacks`);
        assert.ok(header.includes(`E.${name}`), `${s.file} returns E.${name} without listing it`);
        used.add(name);
      }
    }
    assert.deepEqual(
      names.filter((n) => !used.has(n)),
      [],
      'every code of the table is returned by some script',
    );
  });

  it('every script compiles on redis-server with the table in front of it', async () => {
    for (const s of scriptSources()) {
      const sha = await redis.script('LOAD', s.lua);
      assert.match(String(sha), /^[0-9a-f]{40}$/, s.file);
    }
  });
});
