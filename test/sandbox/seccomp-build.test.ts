/**
 * The seccomp allow-list in a real bwrap sandbox: a real build (gcc compiling and linking, make,
 * sh, coreutils cp, mv, tar, find, sed, and Node and Python) succeeds under it, and every call of
 * a list of denied ones is refused (each reported by errno). Needs root and bubblewrap.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { SandboxRunner } from '../../builders/core/sandbox.ts';
import { createBwrapRunner } from '../../builders/linux/bwrap-runner.ts';
import { ARCHES, seccompSupported } from '../../builders/linux/seccomp.ts';
import { runJob } from './conformance.ts';

const skip =
  process.getuid?.() !== 0
    ? 'needs root'
    : !existsSync('/usr/bin/bwrap')
      ? 'needs bubblewrap'
      : !seccompSupported(process.arch)
        ? `no seccomp table for ${process.arch}`
        : false;
const T = { timeout: 90_000 };

const MAKEFILE = `CC = gcc
all: hello
hello: main.o greet.o
\t$(CC) -o $@ main.o greet.o
%.o: %.c greet.h
\t$(CC) -O2 -Wall -c -o $@ $<
clean:
\trm -f hello *.o
`;
const BUILD = [
  'set -e',
  'make -j2 >&2',
  './hello',
  'mkdir -p a/b && cp hello a/b/copy && mv a/b/copy a/b/moved',
  'tar -cf t.tar a && rm -rf a && tar -xf t.tar',
  'find a -type f | sed "s/moved/found/"',
  'echo sed-ok | sed "s/ok/works/"',
  'grep Seccomp: /proc/self/status',
  `node -e "require('fs').writeFileSync('n.txt', 'node ran'); console.log(require('fs').readFileSync('n.txt', 'utf8'))"`,
  'python3 -c \'import subprocess; print(subprocess.run(["true"]).returncode)\'',
].join('\n');

/** Denied calls a tenant might try; each is called through libc's syscall() by number. */
const DENIED = [
  'ptrace',
  'mount',
  'umount2',
  'unshare',
  'setns',
  'keyctl',
  'add_key',
  'bpf',
  'perf_event_open',
  'io_uring_setup',
  'userfaultfd',
  'kexec_load',
  'init_module',
  'process_vm_readv',
  'pivot_root',
  'remap_file_pages', // named nowhere in the table: ENOSYS, as any syscall the allow-list lacks
] as const;
/** Answered ENOSYS (as if the kernel had no such call); every other denied call is EPERM. */
const NOSYS = new Set(['io_uring_setup', 'remap_file_pages']);

describe('seccomp allow-list in a real sandbox', { skip }, () => {
  let runner: SandboxRunner;
  let base: string;
  before(async () => {
    runner = createBwrapRunner({ cgroupParent: `kiln-test-${process.pid}`, log: () => undefined });
    base = await mkdtemp(join(tmpdir(), 'kiln-seccomp-'));
    await chmod(base, 0o711);
  });
  after(async () => {
    await rm(base, { recursive: true, force: true });
  });

  it(
    'lets a real build run: make, gcc compile and link, sh, cp, mv, tar, find, sed, node, python3',
    T,
    async () => {
      const jobDir = await mkdtemp(join(base, 'job-'));
      await writeFile(join(jobDir, 'Makefile'), MAKEFILE);
      await writeFile(join(jobDir, 'greet.h'), 'const char *greeting(void);\n');
      await writeFile(
        join(jobDir, 'greet.c'),
        '#include "greet.h"\nconst char *greeting(void) { return "hello"; }\n',
      );
      await writeFile(
        join(jobDir, 'main.c'),
        '#include <stdio.h>\n#include "greet.h"\nint main(void) { printf("%s from a filtered build\\n", greeting()); return 0; }\n',
      );
      const { r, out } = await runJob(runner, base, { jobDir, argv: ['/bin/sh', '-c', BUILD] });
      assert.equal(r.exitCode, 0, out.stderr);
      assert.equal(
        out.stdout,
        ['hello from a filtered build', 'a/b/found', 'sed-works', 'Seccomp:\t2', 'node ran', '0', ''].join(
          '\n',
        ),
      );
    },
  );

  it('refuses each denied call, and sockets other than AF_UNIX', T, async () => {
    const nums = ARCHES[process.arch as 'x64' | 'arm64'].numbers;
    const calls = DENIED.map((n) => [n, nums[n]] as const).filter(([, nr]) => nr !== undefined);
    const py = [
      'import ctypes, socket',
      'l = ctypes.CDLL(None, use_errno=True)',
      `for name, nr in ${JSON.stringify(calls)}:`,
      '  ctypes.set_errno(0)',
      '  rc = l.syscall(nr, 0, 0, 0, 0, 0, 0)',
      '  print(name, rc, ctypes.get_errno())',
      'for name, fam in (("AF_VSOCK", 40), ("AF_NETLINK", 16), ("AF_INET", 2), ("AF_INET6", 10), ("AF_PACKET", 17)):',
      '  try: socket.socket(fam, socket.SOCK_DGRAM); print(name, "created")',
      '  except OSError as e: print(name, "refused", e.errno)',
      'socket.socket(socket.AF_UNIX).close(); print("AF_UNIX created")',
    ].join('\n');
    const jobDir = await mkdtemp(join(base, 'job-'));
    await writeFile(join(jobDir, 'probe.py'), py);
    const { r, out } = await runJob(runner, base, { jobDir, argv: ['/usr/bin/python3', 'probe.py'] });
    assert.equal(r.exitCode, 0, out.stderr);
    const lines = new Map(
      out.stdout
        .trim()
        .split('\n')
        .map((l) => [l.split(' ')[0]!, l] as const),
    );
    for (const [name] of calls) {
      const want = NOSYS.has(name) ? 38 : 1;
      assert.equal(lines.get(name), `${name} -1 ${want}`, out.stdout);
    }
    for (const fam of ['AF_VSOCK', 'AF_NETLINK', 'AF_INET', 'AF_INET6', 'AF_PACKET'])
      assert.equal(lines.get(fam), `${fam} refused 97`, out.stdout);
    assert.equal(lines.get('AF_UNIX'), 'AF_UNIX created');
  });
});
