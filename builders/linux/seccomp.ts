/**
 * kiln's seccomp filter for job processes: an allow-list generated from the reviewed table in
 * builders/linux/seccomp-table.ts, built here as a classic-BPF program (no libseccomp, no native
 * module: see docs/security.md for why) and handed to `bwrap --seccomp FD`.
 *
 * The program kills the process for a foreign syscall ABI (i386 on x86_64, x32), then finds the
 * syscall number in a balanced binary search over the table's numbers (a handful of comparisons
 * per syscall, whatever the table's size): allowed calls pass, refused ones fail with EPERM,
 * clone3 and io_uring answer ENOSYS, and so does every syscall the table does not name. Four
 * calls pass only with their arguments checked: clone without namespace flags, ioctl without
 * TIOCSTI / TIOCLINUX, socket in the profile's families ({@link SOCKET_FAMILIES}: AF_UNIX, plus
 * AF_INET/AF_INET6 for a `loopback` profile; so never AF_VSOCK, which a network namespace does
 * not cover, nor AF_NETLINK; other families answer EAFNOSUPPORT), socketpair only AF_UNIX.
 */
import { ALLOWED, NOT_IMPLEMENTED, REFUSED, SOCKET_FAMILIES, type SyscallGroup } from './seccomp-table.ts';
import { ARM64_SYSCALLS, X64_SYSCALLS } from './syscall-numbers.ts';

export { SOCKET_FAMILIES };

/** One instruction of a classic BPF program (struct sock_filter). */
export interface BpfInsn {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

export const BPF = {
  LD_W_ABS: 0x20,
  JA: 0x05,
  JEQ_K: 0x15,
  JGE_K: 0x35,
  JSET_K: 0x45,
  RET_K: 0x06,
} as const;

export const SECCOMP_RET = {
  KILL_PROCESS: 0x80000000,
  ERRNO: 0x00050000,
  ALLOW: 0x7fff0000,
} as const;

export const ERRNO = { EPERM: 1, ENOSYS: 38, EAFNOSUPPORT: 97 } as const;

/** Offsets in struct seccomp_data (little-endian: the low half of an argument comes first). */
const OFF_NR = 0;
const OFF_ARCH = 4;
const offArgLow = (i: number): number => 16 + 8 * i;

/** CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET */
export const CLONE_NAMESPACE_FLAGS = 0x7e020000;
const TIOCSTI = 0x5412;
const TIOCLINUX = 0x541c;
const AF_UNIX = 1;

export interface ArchTable {
  auditArch: number;
  /** Syscall numbers at or above this are a second ABI on the same arch (x32). */
  foreignAbiFrom?: number;
  /** name → number on this arch. */
  numbers: Readonly<Record<string, number>>;
}

export const ARCHES: Record<'x64' | 'arm64', ArchTable> = {
  x64: { auditArch: 0xc000003e, foreignAbiFrom: 0x40000000, numbers: X64_SYSCALLS },
  arm64: { auditArch: 0xc00000b7, numbers: ARM64_SYSCALLS },
};

/** What the filter does with one syscall number. */
export type SyscallAction = 'allow' | 'eperm' | 'enosys' | 'clone' | 'ioctl' | 'socket' | 'socketpair';

export interface SeccompOptions {
  /** The profile's network: `none` (AF_UNIX sockets only) or `loopback` (AF_INET/AF_INET6 too). @default "none" */
  network?: keyof typeof SOCKET_FAMILIES;
}

/** True when kiln has a syscall table for `arch` (a `process.arch` value). */
export function seccompSupported(arch: string = process.arch): arch is keyof typeof ARCHES {
  return arch === 'x64' || arch === 'arm64';
}

/** Every number of `arch` the table names, with its action (names the arch lacks are skipped). */
export function syscallActions(arch: keyof typeof ARCHES): Map<number, SyscallAction> {
  const nums = ARCHES[arch].numbers;
  const out = new Map<number, SyscallAction>();
  const put = (groups: readonly SyscallGroup[], action: SyscallAction): void => {
    for (const g of groups)
      for (const name of g.calls) {
        const nr = nums[name];
        if (nr !== undefined) out.set(nr, action);
      }
  };
  put(ALLOWED, 'allow');
  put(REFUSED, 'eperm');
  put(NOT_IMPLEMENTED, 'enosys');
  for (const special of ['clone', 'ioctl', 'socket', 'socketpair'] as const) {
    const nr = nums[special];
    if (nr !== undefined) out.set(nr, special);
  }
  return out;
}

const ld = (k: number): BpfInsn => ({ code: BPF.LD_W_ABS, jt: 0, jf: 0, k });
const jeq = (k: number, jt: number, jf: number): BpfInsn => ({ code: BPF.JEQ_K, jt, jf, k });
const ret = (k: number): BpfInsn => ({ code: BPF.RET_K, jt: 0, jf: 0, k });
const errno = (e: number): BpfInsn => ret(SECCOMP_RET.ERRNO | e);

/** The instructions that end the filter for one action (the argument checks load their argument). */
function leaf(action: SyscallAction, families: readonly number[]): BpfInsn[] {
  switch (action) {
    case 'allow':
      return [ret(SECCOMP_RET.ALLOW)];
    case 'eperm':
      return [errno(ERRNO.EPERM)];
    case 'enosys':
      return [errno(ERRNO.ENOSYS)];
    case 'clone': // clone(flags, ...): flags are the first argument on both arches
      return [
        ld(offArgLow(0)),
        { code: BPF.JSET_K, jt: 0, jf: 1, k: CLONE_NAMESPACE_FLAGS },
        errno(ERRNO.EPERM),
        ret(SECCOMP_RET.ALLOW),
      ];
    case 'ioctl': // ioctl(fd, cmd, ...): the kernel reads cmd as 32 bits, and so do we
      return [
        ld(offArgLow(1)),
        jeq(TIOCSTI, 1, 0),
        jeq(TIOCLINUX, 0, 1),
        errno(ERRNO.EPERM),
        ret(SECCOMP_RET.ALLOW),
      ];
    case 'socket': {
      const n = families.length;
      return [
        ld(offArgLow(0)),
        ...families.map((f, i) => jeq(f, n - i, 0)),
        errno(ERRNO.EAFNOSUPPORT),
        ret(SECCOMP_RET.ALLOW),
      ];
    }
    case 'socketpair':
      return [ld(offArgLow(0)), jeq(AF_UNIX, 1, 0), errno(ERRNO.EAFNOSUPPORT), ret(SECCOMP_RET.ALLOW)];
  }
}

/** [first number, action] runs covering every number from 0 up; gaps are ENOSYS. */
function intervals(actions: Map<number, SyscallAction>): { lo: number; action: SyscallAction }[] {
  const out: { lo: number; action: SyscallAction }[] = [];
  const push = (lo: number, action: SyscallAction): void => {
    const last = out.at(-1);
    const simple = action === 'allow' || action === 'eperm' || action === 'enosys';
    if (last && simple && last.action === action) return;
    out.push({ lo, action });
  };
  let next = 0;
  for (const nr of [...actions.keys()].sort((a, b) => a - b)) {
    if (nr > next) push(next, 'enosys');
    push(nr, actions.get(nr)!);
    next = nr + 1;
  }
  push(next, 'enosys');
  return out;
}

/** A balanced search over `iv[i..j]`: `nr >= iv[mid].lo` goes right (through a JA), else left. */
function search(
  iv: readonly { lo: number; action: SyscallAction }[],
  i: number,
  j: number,
  families: readonly number[],
): BpfInsn[] {
  if (i === j) return leaf(iv[i]!.action, families);
  const mid = (i + j + 1) >> 1;
  const left = search(iv, i, mid - 1, families);
  const right = search(iv, mid, j, families);
  return [
    { code: BPF.JGE_K, jt: 0, jf: 1, k: iv[mid]!.lo },
    { code: BPF.JA, jt: 0, jf: 0, k: left.length },
    ...left,
    ...right,
  ];
}

/** The filter as instructions, for `arch` (a `process.arch` value: x64 or arm64). */
export function seccompProgram(arch: keyof typeof ARCHES, opts: SeccompOptions = {}): BpfInsn[] {
  const t = ARCHES[arch];
  const families = SOCKET_FAMILIES[opts.network ?? 'none'];
  const p: BpfInsn[] = [ld(OFF_ARCH), jeq(t.auditArch, 1, 0), ret(SECCOMP_RET.KILL_PROCESS), ld(OFF_NR)];
  if (t.foreignAbiFrom !== undefined) {
    p.push({ code: BPF.JGE_K, jt: 0, jf: 1, k: t.foreignAbiFrom }, ret(SECCOMP_RET.KILL_PROCESS));
  }
  const iv = intervals(syscallActions(arch));
  p.push(...search(iv, 0, iv.length - 1, families));
  return p;
}

/** The filter in the binary form `bwrap --seccomp` reads (an array of struct sock_filter). */
export function seccompFilter(arch: keyof typeof ARCHES, opts: SeccompOptions = {}): Buffer {
  const prog = seccompProgram(arch, opts);
  const buf = Buffer.alloc(prog.length * 8);
  prog.forEach((insn, i) => {
    buf.writeUInt16LE(insn.code, i * 8);
    buf.writeUInt8(insn.jt, i * 8 + 2);
    buf.writeUInt8(insn.jf, i * 8 + 3);
    buf.writeUInt32LE(insn.k >>> 0, i * 8 + 4);
  });
  return buf;
}
