#!/usr/bin/env node
// Makes this checkout ready to run: npm packages (npm ci when node_modules is missing or stale)
// and the Debian packages kiln runs for real (installed when root, else an exact message).
import { Buffer } from 'node:buffer';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';

// [what proves it is installed (a command on PATH, or an absolute path), Debian package]
const DEBIAN = [
  ['redis-server', 'redis-server'],
  ['bwrap', 'bubblewrap'],
  ['gcc', 'gcc'],
  // gcc only recommends its C library headers: without them it cannot compile `#include <errno.h>`.
  ['/usr/include/errno.h', 'libc6-dev'],
  ['file', 'file'],
];
// Only the tests need these (`setup.mjs --test`).
// The cross gcc alone has no target libc headers: its libc6-dev package is named on its own, so a
// machine where recommends are off still gets `bits/libc-header-start.h`.
const DEBIAN_TEST = [
  ['make', 'make'],
  // test/cc/args.test.ts checks each C++ command line's plan against the real g++ as well.
  ['g++', 'g++'],
  ['ps', 'procps'],
  ['python3', 'python3-minimal'],
  ['aarch64-linux-gnu-gcc', 'gcc-aarch64-linux-gnu'],
  ['/usr/aarch64-linux-gnu/include/stdio.h', 'libc6-dev-arm64-cross'],
  // kiln cc against clang, CMake (its launcher) with Ninja and make, and `script` for a terminal
  ['clang', 'clang'],
  // kiln cc for clang-cl (test/cc/cl-args, test/e2e/cc-cross), and llvm-readobj for CodeView
  ['clang-cl-14', 'clang-tools-14'],
  ['llvm-readobj', 'llvm'],
  // Node for Windows under Wine: the Windows client's code paths (test/client/wine.test.ts)
  ['/usr/lib/wine/wine64', 'wine64'],
  ['cmake', 'cmake'],
  ['ninja', 'ninja-build'],
  ['script', 'bsdutils'],
  // The fleet tests (test/fleet): Ansible provisions debootstrap'd roots over their own sshd.
  ['ansible-playbook', 'ansible-core'],
  // ansible-core alone has no collections; the FreeBSD role uses community.general (pkgng, sysrc).
  ['/usr/lib/python3/dist-packages/ansible_collections/community/general', 'ansible'],
  ['ansible-lint', 'ansible-lint'],
  ['/usr/sbin/sshd', 'openssh-server'],
  ['ssh-keygen', 'openssh-client'],
  ['debootstrap', 'debootstrap'],
  // The dashboard test drives a real headless browser.
  ['chromium', 'chromium'],
];

function has(probe) {
  if (probe.startsWith('/')) return existsSync(probe);
  return spawnSync('sh', ['-c', `command -v ${probe}`], { stdio: 'ignore' }).status === 0;
}

const lock = 'package-lock.json';
const marker = 'node_modules/.package-lock.json';
if (!existsSync(marker) || statSync(marker).mtimeMs < statSync(lock).mtimeMs) {
  console.error('setup: installing npm packages (npm ci)');
  const ci = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { stdio: 'inherit' });
  if (ci.status !== 0) {
    // A registry that serves only this platform's optional binaries (e.g. @deno/*) makes `npm ci`
    // refuse the lock file; `npm install --no-save` installs the same locked versions and skips them.
    console.error('setup: npm ci failed; installing the locked versions with npm install --no-save');
    execFileSync('npm', ['install', '--no-save', '--no-audit', '--no-fund'], { stdio: 'inherit' });
  }
}

const wanted = process.argv.includes('--test') ? [...DEBIAN, ...DEBIAN_TEST] : DEBIAN;
const missing = wanted.filter(([cmd]) => !has(cmd)).map(([, pkg]) => pkg);
if (missing.length > 0) {
  if (process.getuid?.() === 0 && has('apt-get')) {
    console.error(`setup: installing Debian packages: ${missing.join(' ')}`);
    execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit' });
    execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], {
      stdio: 'inherit',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  } else {
    console.error(`setup: kiln needs these Debian packages: ${missing.join(' ')}`);
    console.error(`setup: install them with:  sudo apt-get install -y ${missing.join(' ')}`);
    process.exit(1);
  }
}

// The native front of `kiln cc` (Linux/macOS, a Unix socket): rebuilt when its source is newer
// than the binary, with whichever C compiler this machine has. It is optional: without it (and on
// Windows, where there is none) kiln cc runs through node.
const shimSrc = 'client/cc/native/kiln-cc.c';
const shim = 'client/cc/native/kiln-cc';
const cc = process.platform === 'win32' ? undefined : ['gcc', 'cc', 'clang'].find(has);
const kilnJs = new URL('../client/bin/kiln.js', import.meta.url).pathname;
// A front copied from another checkout (a git worktree) would run that checkout's client.
const stale = () =>
  !existsSync(shim) ||
  statSync(shim).mtimeMs < statSync(shimSrc).mtimeMs ||
  !readFileSync(shim).includes(Buffer.from(`${kilnJs}\0`));
if (stale()) {
  if (!cc) {
    console.error(
      'setup: no C compiler here, so no native kiln cc front (optional: kiln cc runs through node)',
    );
  } else {
    rmSync(shim, { force: true }); // a hard link to another checkout's front stays that one's
    const r = spawnSync(cc, ['-O2', '-o', shim, shimSrc, `-DKILN_JS="${kilnJs}"`], { stdio: 'inherit' });
    if (r.status !== 0)
      console.error('setup: could not build client/cc/native/kiln-cc; kiln cc still works through node');
  }
}
