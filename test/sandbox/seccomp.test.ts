/**
 * The seccomp allow-list, run through a small classic-BPF interpreter (the subset the program
 * uses) on hand-made syscall records for both arches: every syscall number from 0 to past the
 * highest gets exactly the table's answer. The table itself is checked (every name is a syscall
 * of some arch, none is in two lists) and so are the numbers, against the kernel headers of the
 * compilers installed here. test/sandbox/seccomp-build.test.ts runs it in a real sandbox.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import {
  ARCHES,
  BPF,
  CLONE_NAMESPACE_FLAGS,
  seccompFilter,
  seccompProgram,
  SECCOMP_RET,
  SOCKET_FAMILIES,
  syscallActions,
  type BpfInsn,
} from '../../builders/linux/seccomp.ts';
import { ALLOWED, NOT_IMPLEMENTED, REFUSED } from '../../builders/linux/seccomp-table.ts';
import { syscallNumbers } from '../../scripts/gen-syscalls.mjs';

interface Call {
  nr: number;
  arch: number;
  args?: number[];
}

/** Evaluates `prog` on one syscall; the answer is the filter's return value. */
function evaluate(prog: readonly BpfInsn[], call: Call): number {
  const data = Buffer.alloc(64);
  data.writeUInt32LE(call.nr >>> 0, 0);
  data.writeUInt32LE(call.arch, 4);
  (call.args ?? []).forEach((a, i) => data.writeBigUInt64LE(BigInt(a), 16 + 8 * i));
  let acc = 0;
  for (let pc = 0; pc < prog.length; pc++) {
    const { code, jt, jf, k } = prog[pc] as BpfInsn;
    switch (code) {
      case BPF.LD_W_ABS:
        acc = data.readUInt32LE(k);
        break;
      case BPF.JA:
        pc += k;
        break;
      case BPF.JEQ_K:
        pc += acc === k >>> 0 ? jt : jf;
        break;
      case BPF.JGE_K:
        pc += acc >= k >>> 0 ? jt : jf;
        break;
      case BPF.JSET_K:
        pc += (acc & k) !== 0 ? jt : jf;
        break;
      case BPF.RET_K:
        return k >>> 0;
      default:
        throw new Error(`unexpected opcode ${code}`);
    }
  }
  throw new Error('fell off the end of the program');
}

const EPERM = (SECCOMP_RET.ERRNO | 1) >>> 0;
const ENOSYS = (SECCOMP_RET.ERRNO | 38) >>> 0;
const EAFNOSUPPORT = (SECCOMP_RET.ERRNO | 97) >>> 0;
const names = (groups: readonly { calls: readonly string[] }[]): string[] => groups.flatMap((g) => g.calls);

describe('seccomp table', () => {
  it('names only syscalls that exist, each in one list only', () => {
    const all = [...names(ALLOWED), ...names(REFUSED), ...names(NOT_IMPLEMENTED)];
    const known = new Set([...Object.keys(ARCHES.x64.numbers), ...Object.keys(ARCHES.arm64.numbers)]);
    assert.deepEqual(
      all.filter((n) => !known.has(n)),
      [],
      'unknown names',
    );
    assert.deepEqual(
      all.filter((n, i) => all.indexOf(n) !== i),
      [],
      'named twice',
    );
    for (const special of ['clone', 'ioctl', 'socket', 'socketpair'])
      assert.ok(!all.includes(special), `${special} is checked by argument, not listed`);
  });

  const compilers: [keyof typeof ARCHES, string][] = [
    ['x64', process.arch === 'x64' ? 'gcc' : 'x86_64-linux-gnu-gcc'],
    ['arm64', process.arch === 'arm64' ? 'gcc' : 'aarch64-linux-gnu-gcc'],
  ];
  for (const [arch, cc] of compilers) {
    let has = true;
    try {
      execFileSync(cc, ['--version'], { stdio: 'ignore' });
    } catch {
      has = false;
    }
    it(`has the numbers of ${arch} that ${cc}'s kernel headers give`, { skip: !has && `no ${cc}` }, () => {
      const fromHeaders = syscallNumbers(cc);
      for (const name of [...names(ALLOWED), ...names(REFUSED), ...names(NOT_IMPLEMENTED)])
        assert.equal(ARCHES[arch].numbers[name], fromHeaders[name], name);
    });
  }
});

for (const arch of ['x64', 'arm64'] as const) {
  describe(`seccomp filter (${arch})`, () => {
    const t = ARCHES[arch];
    const nr = (name: string): number => {
      const n = t.numbers[name];
      assert.ok(n !== undefined, name);
      return n;
    };
    const prog = seccompProgram(arch);
    const run = (n: number, args?: number[], p = prog): number =>
      evaluate(p, { nr: n, arch: t.auditArch, args });

    it('answers every number as the table says, ENOSYS for any it does not name', () => {
      const actions = syscallActions(arch);
      const max = Math.max(...actions.keys());
      for (let n = 0; n <= max + 64; n++) {
        const want = { allow: SECCOMP_RET.ALLOW, eperm: EPERM, enosys: ENOSYS }[
          actions.get(n) as 'allow' | 'eperm' | 'enosys'
        ];
        if (want !== undefined) assert.equal(run(n), want, `syscall ${n}`);
        else if (!actions.has(n)) assert.equal(run(n), ENOSYS, `unlisted syscall ${n}`);
      }
      assert.equal(run(0x3fff_fff0), ENOSYS);
    });

    it('allows what a shell, make and a compiler use', () => {
      for (const name of ['read', 'write', 'openat', 'execve', 'wait4', 'mmap', 'pipe2', 'newfstatat'])
        assert.equal(run(nr(name)), SECCOMP_RET.ALLOW, name);
      assert.equal(run(nr('clone'), [0x11 /* SIGCHLD */]), SECCOMP_RET.ALLOW);
      assert.equal(run(nr('ioctl'), [1, 0x5401 /* TCGETS */]), SECCOMP_RET.ALLOW);
    });

    it('refuses ptrace, mounts, namespaces, keyrings, bpf, perf, kexec with EPERM', () => {
      for (const name of [
        'ptrace',
        'process_vm_readv',
        'mount',
        'umount2',
        'unshare',
        'setns',
        'keyctl',
        'add_key',
        'bpf',
        'perf_event_open',
        'userfaultfd',
        'kexec_load',
        'init_module',
      ])
        assert.equal(run(nr(name)), EPERM, name);
    });

    it('answers ENOSYS for clone3 and io_uring', () => {
      for (const name of ['clone3', 'io_uring_setup', 'io_uring_enter', 'io_uring_register'])
        assert.equal(run(nr(name)), ENOSYS, name);
    });

    it('refuses clone with namespace flags, and TIOCSTI', () => {
      assert.equal(run(nr('clone'), [0x10000000 /* CLONE_NEWUSER */ | 0x11]), EPERM);
      assert.equal(run(nr('clone'), [0x40000000 /* CLONE_NEWNET */]), EPERM);
      assert.equal(run(nr('clone'), [CLONE_NAMESPACE_FLAGS]), EPERM);
      assert.equal(run(nr('ioctl'), [0, 0x5412]), EPERM);
      assert.equal(run(nr('ioctl'), [0, 0x1_0000_5412]), EPERM, 'the kernel ignores the high half of cmd');
    });

    it('creates only AF_UNIX sockets, and AF_INET/AF_INET6 with network = loopback', () => {
      const loop = seccompProgram(arch, { network: 'loopback' });
      assert.equal(run(nr('socket'), [1, 1, 0]), SECCOMP_RET.ALLOW);
      for (const f of [2, 10, 16 /* AF_NETLINK */, 40 /* AF_VSOCK */, 17, 38, 0, 0x1_0000_0028])
        assert.equal(run(nr('socket'), [f, 1, 0]), EAFNOSUPPORT, `family ${f}`);
      for (const f of SOCKET_FAMILIES.loopback)
        assert.equal(run(nr('socket'), [f, 1, 0], loop), SECCOMP_RET.ALLOW, `loopback family ${f}`);
      for (const f of [16, 40, 17])
        assert.equal(run(nr('socket'), [f, 1, 0], loop), EAFNOSUPPORT, `loopback family ${f}`);
      assert.equal(run(nr('socketpair'), [1, 1, 0]), SECCOMP_RET.ALLOW);
      assert.equal(run(nr('socketpair'), [40, 1, 0]), EAFNOSUPPORT);
      assert.equal(run(nr('socketpair'), [2, 1, 0], loop), EAFNOSUPPORT);
    });

    it('kills a process using another ABI', () => {
      assert.equal(evaluate(prog, { nr: nr('read'), arch: 0x40000003 /* i386 */ }), SECCOMP_RET.KILL_PROCESS);
      if (t.foreignAbiFrom !== undefined)
        assert.equal(run(t.foreignAbiFrom + nr('read')), SECCOMP_RET.KILL_PROCESS);
    });

    it('is a short search, and serialises to struct sock_filter', () => {
      assert.ok(prog.length < 1024, `${prog.length} instructions`);
      const buf = seccompFilter(arch);
      assert.equal(buf.length, prog.length * 8);
      assert.equal(buf.readUInt16LE(0), BPF.LD_W_ABS);
      assert.equal(buf.readUInt32LE(4), 4);
      for (const insn of prog) assert.ok(insn.jt < 256 && insn.jf < 256);
    });
  });
}
