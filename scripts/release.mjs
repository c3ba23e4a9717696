#!/usr/bin/env node
// Makes the kiln release archive the Ansible roles install (ansible/, docs/fleet.md): every file of
// this checkout that git tracks or would track (not what .gitignore leaves out), plus the
// production npm packages from node_modules, under one top directory `kiln-<id>/`, gzipped.
// A host needs only Node to run it (no npm, no registry).
//
//   node scripts/release.mjs [--id ID] [--out DIR]     → DIR/kiln-<id>.tar.gz (default .tmp/release)
//
// The default id is `<package version>-<12 hex digits>` of a hash over the files' paths and
// contents, so the same tree gives the same archive name.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';

const top = resolve(new URL('..', import.meta.url).pathname);
const args = process.argv.slice(2);
const opt = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};

function run(cmd, argv, input) {
  const r = spawnSync(cmd, argv, { cwd: top, input, maxBuffer: 256 * 1024 * 1024 });
  if (r.status !== 0) {
    console.error(`release: ${cmd} ${argv.join(' ')} failed: ${r.stderr?.toString() ?? r.error}`);
    process.exit(1);
  }
  return r.stdout.toString();
}

const files = run('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'])
  .split('\0')
  .filter((f) => f && existsSync(join(top, f)))
  .sort();
const pkgs = run('npm', ['ls', '--omit=dev', '--all', '--parseable'])
  .split('\n')
  .map((p) => relative(top, p))
  .filter((p) => p.startsWith('node_modules/'))
  .sort();
const version = JSON.parse(readFileSync(join(top, 'package.json'), 'utf8')).version;
const h = createHash('sha256');
for (const f of files) h.update(f + '\0').update(readFileSync(join(top, f)));
h.update(readFileSync(join(top, 'package-lock.json')));
const id = opt('--id') ?? `${version}-${h.digest('hex').slice(0, 12)}`;
const out = resolve(opt('--out') ?? join(top, '.tmp/release'));
const file = join(out, `kiln-${id}.tar.gz`);
if (!existsSync(file)) {
  mkdirSync(out, { recursive: true });
  const list = join(out, `.files-${process.pid}`);
  writeFileSync(list, files.join('\n') + '\n');
  const tmp = `${file}.${process.pid}.tmp`;
  // Files one by one (no recursion), then each package directory whole.
  const outer = pkgs.filter((p) => !pkgs.some((q) => q !== p && p.startsWith(q + '/')));
  run('tar', [
    '-C',
    top,
    '--owner=0',
    '--group=0',
    '--numeric-owner',
    `--transform=s,^,kiln-${id}/,`,
    '-czf',
    tmp,
    '--no-recursion',
    '--files-from',
    list,
    '--recursion',
    ...outer,
  ]);
  renameSync(tmp, file);
  spawnSync('rm', ['-f', list]);
}
console.log(file);
