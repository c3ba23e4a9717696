/**
 * The log pump bounds what it holds: past its backlog it asks the producer to wait (a promise that
 * settles once half of it is appended), keeps every byte in order, and never holds more than the
 * bound plus one chunk. A sink that is released by hand stands for a slow Redis/store.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogPump } from '../../builders/core/log-pump.ts';

test('a producer faster than the sink is asked to wait, and nothing is lost', async () => {
  const appended: Uint8Array[] = [];
  let release: (() => void) | null = null;
  const sink = async (_k: 'out' | 'err', data: Uint8Array): Promise<void> => {
    await new Promise<void>((r) => (release = r));
    appended.push(data);
  };
  const chunk = (i: number): Uint8Array => new Uint8Array(64 * 1024).fill(i % 256);
  const pump = createLogPump(sink, 1 << 30, 20, 64 * 1024, 1 << 20);
  let held = 0;
  let waits = 0;
  for (let i = 0; i < 64; i++) {
    const wait = pump.write('stdout', chunk(i));
    held = Math.max(held, 64 * 1024 * (i + 1) - appended.reduce((n, a) => n + a.byteLength, 0));
    if (!wait) continue;
    waits++;
    // The producer waits; the sink drains until the pump says go on.
    let go = false;
    void wait.then(() => (go = true));
    while (!go) {
      while (!release) await new Promise((r) => setImmediate(r));
      const r: () => void = release;
      release = null;
      r();
      await new Promise((r2) => setImmediate(r2));
    }
  }
  const closing = pump.close();
  for (let i = 0; appended.reduce((n, a) => n + a.byteLength, 0) < 64 * 64 * 1024 && i < 1000; i++) {
    while (!release) await new Promise((r) => setImmediate(r));
    const r: () => void = release;
    release = null;
    r();
    await new Promise((r2) => setImmediate(r2));
  }
  await closing;
  assert.ok(waits > 0, 'the producer was asked to wait');
  assert.ok(held <= (1 << 20) + 64 * 1024, `held at most the backlog bound plus a chunk, not ${held}`);
  const all = Buffer.concat(appended);
  assert.equal(all.byteLength, 64 * 64 * 1024);
  for (let i = 0; i < 64; i++) assert.equal(all[i * 64 * 1024], i % 256, `chunk ${i} in order`);
});
