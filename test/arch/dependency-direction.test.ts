/**
 * The arrows between folders are enforced by `npm run check` (eslint.config.js,
 * no-restricted-imports per folder): each one refuses a violating import written in the folder it
 * guards, and lets the allowed ones through. Linted in memory with the repository's own config.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const eslint = new ESLint({ cwd: ROOT });

/** The no-restricted-imports messages for `source` linted as if it were the file `path`. */
async function refusals(path: string, source: string): Promise<string[]> {
  const [result] = await eslint.lintText(source, { filePath: ROOT + path });
  return (result?.messages ?? []).filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

const cases: [file: string, specifier: string, refused: boolean][] = [
  // Nothing below the gateway reaches into it.
  ['redis/x.ts', '../gateway/context.ts', true],
  ['storage/x.ts', '../gateway/config.ts', true],
  ['archive/x.ts', '../gateway/errors.ts', true],
  ['builders/linux/x.ts', '../../gateway/config.ts', true],
  ['builders/core/x.ts', '../../gateway/job-view.ts', true],
  ['redis/x.ts', '../protocol/gateway-port.ts', false],
  ['redis/x.ts', '../wiring/store.ts', true],
  // protocol/ imports nothing of kiln.
  ['protocol/x.ts', '../storage/port.ts', true],
  ['protocol/x.ts', '../redis/codes.ts', true],
  ['protocol/x.ts', './farm.ts', false],
  // The builder core uses ports, never implementations or a platform.
  ['builders/core/x.ts', '../../redis/builder-farm.ts', true],
  ['builders/core/x.ts', '../linux/bwrap-runner.ts', true],
  ['builders/core/x.ts', '../freebsd/x.ts', true],
  ['builders/core/x.ts', '../../storage/s3.ts', true],
  ['builders/core/x.ts', '../../storage/local-dir.ts', true],
  ['builders/core/x.ts', '../../storage/port.ts', false],
  ['builders/core/x.ts', '../../protocol/builder-port.ts', false],
  ['builders/core/x.ts', './sandbox.ts', false],
  ['builders/core/x.ts', '../../archive/extract.ts', false],
  // The gateway core uses ports; its adapters are entry points and may wire.
  ['gateway/x.ts', '../redis/farm.ts', true],
  ['gateway/routes/x.ts', '../../redis/farm.ts', true],
  ['gateway/routes/x.ts', '../../storage/local-dir.ts', true],
  ['gateway/x.ts', '../storage/s3.ts', true],
  ['gateway/x.ts', '../wiring/gateway.ts', true],
  ['gateway/x.ts', '../builders/core/agent.ts', true],
  ['gateway/x.ts', '../storage/port.ts', false],
  ['gateway/routes/x.ts', '../job-view.ts', false],
  ['gateway/adapters/node/x.ts', '../../../wiring/gateway.ts', false],
];

describe('dependency direction (npm run check)', () => {
  for (const [file, spec, refused] of cases) {
    it(`${file}: ${spec} is ${refused ? 'refused' : 'allowed'}`, async () => {
      const got = await refusals(file, `import type { T } from '${spec}';\nexport type U = T;\n`);
      assert.equal(got.length, refused ? 1 : 0, got.join('; '));
    });
  }

  it('a re-export is an import too', async () => {
    const got = await refusals('redis/x.ts', `export type { FarmState } from '../gateway/context.ts';\n`);
    assert.equal(got.length, 1);
    assert.match(got[0]!, /protocol\//, 'the message says where the shape belongs');
  });
});
