#!/usr/bin/env node
// Builds the installable client: client/bin/installed.ts and everything it imports bundled by
// esbuild into dist/client/ (built JavaScript, each command's module its own chunk so it is still
// loaded only when its command runs; no tsx, no TypeScript, no native module, no dependency left
// to install), with a package.json whose bin is `kiln`. `--pack` also runs `npm pack` there and
// prints the tarball's path: `npm install -g <it>` installs `kiln` on Linux, macOS and Windows.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'client');
const repo = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
await build({
  entryPoints: { kiln: join(root, 'client', 'bin', 'installed.ts') },
  outdir: out,
  outExtension: { '.js': '.mjs' },
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  chunkNames: 'chunks/[name]-[hash]',
  // CommonJS dependencies (yargs' parser, tar-stream) call require() for Node's own modules.
  banner: {
    js: "import { createRequire as __kilnRequire } from 'node:module';\nconst require = __kilnRequire(import.meta.url);",
  },
  define: { __KILN_VERSION__: JSON.stringify(repo.version) },
  legalComments: 'linked',
  logLevel: 'warning',
});
const pkg = {
  name: 'kiln',
  version: repo.version,
  description: 'The kiln client: run builds and compiles on a kiln farm (kiln run, kiln cc, kiln toolchain).',
  license: repo.license,
  type: 'module',
  engines: repo.engines,
  bin: { kiln: 'kiln.mjs' },
  files: ['kiln.mjs', 'chunks/', '*.LEGAL.txt', 'README.md'],
};
writeFileSync(join(out, 'package.json'), JSON.stringify(pkg, null, 2) + '\n');
copyFileSync(join(root, 'docs', 'clients.md'), join(out, 'README.md'));
console.log(`build-client: ${out}`);
if (process.argv.includes('--pack')) {
  const name = execFileSync('npm', ['pack', '--silent', '--pack-destination', join(root, 'dist')], {
    cwd: out,
    encoding: 'utf8',
  }).trim();
  console.log(`build-client: ${join(root, 'dist', name.split('\n').pop())}`);
}
