/**
 * The ready pool's bookkeeping (builders/linux/ready-pool.ts), with makes that finish when the test
 * says: a close while a sandbox is still being made resolves only once that sandbox is disposed of
 * too (the flaky "close ends every sandbox still waiting" of test/sandbox/bwrap.test.ts found one
 * left now and then: the second of a pool of 2, made after the first was ready).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Launched } from '../../builders/linux/bwrap-launch.ts';
import { processTreeGroup } from '../../builders/linux/process-tree.ts';
import { createReadyPool, type ReadySandbox } from '../../builders/linux/ready-pool.ts';

/** A sandbox record whose sandbox never ends by itself (the pool reads only `launched.exit`). */
function sandbox(key: string, n: number): ReadySandbox {
  const launched = { exit: new Promise(() => undefined) } as unknown as Launched;
  return {
    key,
    profile: key,
    jobDir: `/nonexistent/${n}/job`,
    dir: `/nonexistent/${n}`,
    group: processTreeGroup(),
    limits: { memoryBytes: 1, pids: 1 },
    fifos: undefined,
    launched,
    answers: () => '',
    answered: Promise.resolve(),
  };
}

describe('ready pool', () => {
  it('close waits for a sandbox still being made, and disposes of it', async () => {
    const finish: (() => void)[] = [];
    const disposed: number[] = [];
    const made: ReadySandbox[] = [];
    const pool = createReadyPool(
      2,
      (key) =>
        new Promise((resolve) => {
          const s = sandbox(key, made.length);
          made.push(s);
          finish.push(() => resolve(s));
        }),
      async (s) => void disposed.push(made.indexOf(s)),
      () => undefined,
    );
    const ready = pool.prepare('p');
    finish.shift()!(); // the first is made
    await ready;
    // The second is started once the first is kept: wait for that state.
    while (finish.length === 0) await new Promise((r) => setImmediate(r));
    let closed = false;
    const closing = pool.close().then(() => (closed = true));
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    assert.deepEqual([closed, disposed], [false, [0]], 'close waits for the one being made');
    finish.shift()!(); // the second is made after the close
    await closing;
    assert.deepEqual(disposed.sort(), [0, 1]);
    assert.equal(made.length, 2, 'none made after the close');
  });
});
