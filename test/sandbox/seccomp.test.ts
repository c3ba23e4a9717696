/**
 * The seccomp program, run through a small classic-BPF interpreter (the subset the program uses)
 * on hand-made syscall records, for both arches. The bwrap tests check it in a real sandbox.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ARCHES,
  BPF,
  seccompFilter,
  seccompProgram,
  SECCOMP_RET,
  SOCKET_FAMILIES,
  type BpfInsn,
} from '../../builders/linux/seccomp.ts';

interface Call {
  nr: number;
  arch: number;
  args?: number[];
}

/** Evaluates `prog` on one syscall; the answer is the filter's return value. */
function evaluate(prog: readonly BpfInsn[], call: Call): number {
  const data = Buffer.alloc(64);
  data.writeInt32LE(call.nr, 0);
  data.writeUInt32LE(call.arch, 4);
  (call.args ?? []).forEach((a, i) => data.writeBigUInt64LE(BigInt(a), 16 + 8 * i));
  let acc = 0;
  for (let pc = 0; pc < prog.length; pc++) {
    const { code, jt, jf, k } = prog[pc] as BpfInsn;
    switch (code) {
      case BPF.LD_W_ABS:
        acc = data.readUInt32LE(k);
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

for (const arch of ['x64', 'arm64'] as const) {
  describe(`seccomp filter (${arch})`, () => {
    const t = ARCHES[arch];
    const prog = seccompProgram(arch);
    const run = (nr: number, args?: number[]): number => evaluate(prog, { nr, arch: t.auditArch, args });
    const read = arch === 'x64' ? 0 : 63;
    const execve = arch === 'x64' ? 59 : 221;

    it('allows ordinary calls', () => {
      assert.equal(run(read), SECCOMP_RET.ALLOW);
      assert.equal(run(execve), SECCOMP_RET.ALLOW);
      assert.equal(run(t.clone, [0x11 /* SIGCHLD */]), SECCOMP_RET.ALLOW);
      assert.equal(run(t.ioctl, [1, 0x5401 /* TCGETS */]), SECCOMP_RET.ALLOW);
    });

    it('refuses kernel administration and mounts with EPERM', () => {
      for (const [name, nr] of Object.entries(t.eperm)) assert.equal(run(nr), EPERM, name);
      assert.ok('mount' in t.eperm && 'keyctl' in t.eperm && 'bpf' in t.eperm && 'unshare' in t.eperm);
    });

    it('answers ENOSYS for clone3 and io_uring', () => {
      for (const [name, nr] of Object.entries(t.enosys)) assert.equal(run(nr), ENOSYS, name);
    });

    it('refuses clone with namespace flags, and TIOCSTI', () => {
      assert.equal(run(t.clone, [0x10000000 /* CLONE_NEWUSER */ | 0x11]), EPERM);
      assert.equal(run(t.clone, [0x40000000 /* CLONE_NEWNET */]), EPERM);
      assert.equal(run(t.ioctl, [0, 0x5412]), EPERM);
      assert.equal(run(t.ioctl, [0, 0x1_0000_5412]), EPERM, 'the kernel ignores the high half of cmd');
    });

    it('creates sockets only in the allowed families: no AF_VSOCK, socketpair only AF_UNIX', () => {
      const EAFNOSUPPORT = (SECCOMP_RET.ERRNO | 97) >>> 0;
      for (const f of SOCKET_FAMILIES)
        assert.equal(run(t.socket, [f, 1, 0]), SECCOMP_RET.ALLOW, `family ${f}`);
      for (const f of [40 /* AF_VSOCK */, 17 /* AF_PACKET */, 38 /* AF_ALG */, 0, 0x1_0000_0028])
        assert.equal(run(t.socket, [f, 1, 0]), EAFNOSUPPORT, `family ${f}`);
      assert.equal(run(t.socketpair, [1, 1, 0]), SECCOMP_RET.ALLOW);
      assert.equal(run(t.socketpair, [40, 1, 0]), EAFNOSUPPORT);
      assert.equal(run(t.socketpair, [2, 1, 0]), EAFNOSUPPORT);
    });

    it('refuses ptrace and cross-process memory access', () => {
      for (const name of ['ptrace', 'process_vm_readv', 'process_vm_writev'])
        assert.equal(run(t.eperm[name]!), EPERM, name);
    });

    it('kills a process using another ABI', () => {
      assert.equal(evaluate(prog, { nr: read, arch: 0x40000003 /* i386 */ }), SECCOMP_RET.KILL_PROCESS);
      if (t.foreignAbiFrom !== undefined) {
        assert.equal(run(t.foreignAbiFrom + read), SECCOMP_RET.KILL_PROCESS);
      }
    });

    it('serialises to struct sock_filter', () => {
      const buf = seccompFilter(arch);
      assert.equal(buf.length, prog.length * 8);
      assert.equal(buf.readUInt16LE(0), BPF.LD_W_ABS);
      assert.equal(buf.readUInt32LE(4), 4);
      assert.equal(buf.readUInt32LE(buf.length - 4), SECCOMP_RET.ALLOW);
      for (const insn of prog) assert.ok(insn.jt < 256 && insn.jf < 256);
    });
  });
}
