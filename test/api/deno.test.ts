/** The HTTP API suite and the builder-less API cases against the gateway running under Deno (gateway/adapters/deno). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { denoGatewayLauncher } from '../helpers/deno-gateway.ts';
import { useApiGateway } from '../helpers/api-gateway.ts';
import { gatewayApiSuite } from './suite.ts';
import { accessCases } from './access.cases.ts';
import { validationCases, VALIDATION_LIMITS } from './validation.cases.ts';
import { jobBodyCases } from './job-body.cases.ts';

gatewayApiSuite('Deno', denoGatewayLauncher());

describe('API requests that need no builder, on Deno', { timeout: 120_000 }, () => {
  const g = useApiGateway({ limits: VALIDATION_LIMITS, launcher: denoGatewayLauncher() });
  validationCases(g);
  accessCases(g);
  jobBodyCases(g);
});

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

describe('deno.json', () => {
  it('maps every package the Deno gateway imports, at the range package.json installs', () => {
    const readJson = (f: string): Record<string, unknown> =>
      JSON.parse(readFileSync(ROOT + f, 'utf8')) as Record<string, unknown>;
    const imports = readJson('deno.json').imports as Record<string, string>;
    const pkg = readJson('package.json');
    const deps = { ...(pkg.dependencies as object), ...(pkg.devDependencies as object) } as Record<
      string,
      string
    >;
    for (const [name, target] of Object.entries(imports)) {
      const m = /^npm:\/?((?:@[^/@]+\/)?[^/@]+)@([^/]+)\/?$/.exec(target);
      assert.ok(m, `${name}: ${target} is not an npm: specifier`);
      assert.equal(m[2], deps[m[1]!], `${name}: deno.json has ${m[2]}, package.json ${deps[m[1]!]}`);
    }
    // The bare specifiers of our own modules reachable from the Deno entry point.
    const graph = JSON.parse(
      execFileSync(ROOT + 'node_modules/.bin/deno', ['info', '--json', 'gateway/adapters/deno/main.ts'], {
        cwd: ROOT,
        encoding: 'utf8',
        env: { PATH: process.env.PATH, HOME: process.env.HOME, NO_COLOR: '1', DENO_NO_UPDATE_CHECK: '1' },
      }),
    ) as { modules: { specifier: string; dependencies?: { specifier: string }[] }[] };
    const ours = graph.modules.filter(
      (m) => m.specifier.startsWith('file:') && !m.specifier.includes('/node_modules/'),
    );
    assert.ok(ours.some((m) => m.specifier.endsWith('/gateway/app.ts')));
    const bare = new Set(
      ours
        .flatMap((m) => (m.dependencies ?? []).map((d) => d.specifier))
        .filter((s) => !/^(\.|\/|node:)/.test(s)),
    );
    assert.ok(bare.has('hono'));
    for (const s of bare) {
      const mapped = s in imports || Object.keys(imports).some((k) => k.endsWith('/') && s.startsWith(k));
      assert.ok(mapped, `${s} is imported by the Deno gateway but not mapped in deno.json`);
    }
  });
});
