/**
 * kiln's seccomp filter, built in TypeScript as a classic-BPF program (no libseccomp, no native
 * module) and handed to `bwrap --seccomp FD`. It is a deny-list in the spirit of Docker's and
 * Flatpak's defaults: the process is killed for a foreign syscall ABI (i386 on x86_64, x32),
 * kernel-administration and mount calls fail with EPERM, new namespaces cannot be created
 * (clone flags, unshare, setns), clone3 and io_uring answer ENOSYS (libc falls back to clone),
 * the TIOCSTI / TIOCLINUX ioctls are refused, ptrace and cross-process memory access fail, and
 * sockets exist only in the families listed in {@link SOCKET_FAMILIES} (so no AF_VSOCK, which a
 * network namespace does not cover; anything else answers EAFNOSUPPORT). Everything else is allowed.
 */

/** One instruction of a classic BPF program (struct sock_filter). */
export interface BpfInsn {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

export const BPF = {
  LD_W_ABS: 0x20,
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

const EPERM = 1;
const ENOSYS = 38;
const EAFNOSUPPORT = 97;
/**
 * Socket families a job may create: AF_UNIX (1), AF_INET (2) and AF_INET6 (10) — which reach
 * nothing in the sandbox's empty network namespace but which libc and build tools probe — and
 * AF_NETLINK (16, getifaddrs). socketpair takes only AF_UNIX.
 */
export const SOCKET_FAMILIES = [1, 2, 10, 16] as const;
/** Offsets in struct seccomp_data (little-endian: the low half of an argument comes first). */
const OFF_NR = 0;
const OFF_ARCH = 4;
const offArgLow = (i: number): number => 16 + 8 * i;

/** CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET */
const CLONE_NAMESPACE_FLAGS = 0x7e020000;
const TIOCSTI = 0x5412;
const TIOCLINUX = 0x541c;

interface ArchTable {
  auditArch: number;
  /** Syscall numbers at or above this are a second ABI on the same arch (x32). */
  foreignAbiFrom?: number;
  eperm: Record<string, number>;
  enosys: Record<string, number>;
  clone: number;
  ioctl: number;
  socket: number;
  socketpair: number;
}

/** Generic numbers shared by every 64-bit arch since Linux 5.x. */
const NEW_MOUNT_API = {
  open_tree: 428,
  move_mount: 429,
  fsopen: 430,
  fsconfig: 431,
  fsmount: 432,
  fspick: 433,
  mount_setattr: 442,
};
const ENOSYS_CALLS = { io_uring_setup: 425, io_uring_enter: 426, io_uring_register: 427, clone3: 435 };

/** Per-arch syscall numbers (from asm/unistd_64.h and asm-generic/unistd.h). */
export const ARCHES: Record<'x64' | 'arm64', ArchTable> = {
  x64: {
    auditArch: 0xc000003e,
    foreignAbiFrom: 0x40000000,
    // prettier-ignore
    eperm: {
      syslog: 103, uselib: 134, acct: 163, quotactl: 179, add_key: 248, keyctl: 250, request_key: 249,
      move_pages: 279, lookup_dcookie: 212, perf_event_open: 298, bpf: 321, userfaultfd: 323,
      kexec_load: 246, kexec_file_load: 320, init_module: 175, finit_module: 313, delete_module: 176,
      iopl: 172, ioperm: 173, swapon: 167, swapoff: 168, mount: 165, umount2: 166, pivot_root: 155,
      open_by_handle_at: 304, name_to_handle_at: 303, setns: 308, unshare: 272, reboot: 169,
      vhangup: 153, fanotify_init: 300, ptrace: 101, process_vm_readv: 310, process_vm_writev: 311,
      ...NEW_MOUNT_API,
    },
    enosys: ENOSYS_CALLS,
    clone: 56,
    ioctl: 16,
    socket: 41,
    socketpair: 53,
  },
  arm64: {
    auditArch: 0xc00000b7,
    // prettier-ignore
    eperm: {
      syslog: 116, acct: 89, quotactl: 60, add_key: 217, keyctl: 219, request_key: 218,
      move_pages: 239, lookup_dcookie: 18, perf_event_open: 241, bpf: 280, userfaultfd: 282,
      kexec_load: 104, kexec_file_load: 294, init_module: 105, finit_module: 273, delete_module: 106,
      swapon: 224, swapoff: 225, mount: 40, umount2: 39, pivot_root: 41, open_by_handle_at: 265,
      name_to_handle_at: 264, setns: 268, unshare: 97, reboot: 142, vhangup: 58, fanotify_init: 262,
      ptrace: 117, process_vm_readv: 270, process_vm_writev: 271, ...NEW_MOUNT_API,
    },
    enosys: ENOSYS_CALLS,
    clone: 220,
    ioctl: 29,
    socket: 198,
    socketpair: 199,
  },
};

/** True when kiln has a syscall table for `arch` (a `process.arch` value). */
export function seccompSupported(arch: string = process.arch): arch is keyof typeof ARCHES {
  return arch === 'x64' || arch === 'arm64';
}

const ld = (k: number): BpfInsn => ({ code: BPF.LD_W_ABS, jt: 0, jf: 0, k });
const jeq = (k: number, jt: number, jf: number): BpfInsn => ({ code: BPF.JEQ_K, jt, jf, k });
const ret = (k: number): BpfInsn => ({ code: BPF.RET_K, jt: 0, jf: 0, k });

/** The filter as instructions, for `arch` (a `process.arch` value: x64 or arm64). */
export function seccompProgram(arch: keyof typeof ARCHES): BpfInsn[] {
  const t = ARCHES[arch];
  const p: BpfInsn[] = [ld(OFF_ARCH), jeq(t.auditArch, 1, 0), ret(SECCOMP_RET.KILL_PROCESS), ld(OFF_NR)];
  if (t.foreignAbiFrom !== undefined) {
    p.push({ code: BPF.JGE_K, jt: 0, jf: 1, k: t.foreignAbiFrom }, ret(SECCOMP_RET.KILL_PROCESS));
  }
  for (const nr of Object.values(t.eperm)) p.push(jeq(nr, 0, 1), ret(SECCOMP_RET.ERRNO | EPERM));
  for (const nr of Object.values(t.enosys)) p.push(jeq(nr, 0, 1), ret(SECCOMP_RET.ERRNO | ENOSYS));
  // clone(flags, ...): flags are the first argument on both arches.
  p.push(
    jeq(t.clone, 0, 4),
    ld(offArgLow(0)),
    { code: BPF.JSET_K, jt: 0, jf: 1, k: CLONE_NAMESPACE_FLAGS },
    ret(SECCOMP_RET.ERRNO | EPERM),
    ret(SECCOMP_RET.ALLOW),
  );
  // ioctl(fd, cmd, ...): the kernel reads cmd as 32 bits, and so do we.
  p.push(
    jeq(t.ioctl, 0, 5),
    ld(offArgLow(1)),
    jeq(TIOCSTI, 1, 0),
    jeq(TIOCLINUX, 0, 1),
    ret(SECCOMP_RET.ERRNO | EPERM),
    ret(SECCOMP_RET.ALLOW),
  );
  // socket(family, ...) and socketpair(family, ...): the family is the first argument.
  const fams = SOCKET_FAMILIES.length;
  p.push(jeq(t.socket, 0, 3 + fams), ld(offArgLow(0)));
  SOCKET_FAMILIES.forEach((f, i) => p.push(jeq(f, fams - i, 0)));
  p.push(ret(SECCOMP_RET.ERRNO | EAFNOSUPPORT), ret(SECCOMP_RET.ALLOW));
  p.push(
    jeq(t.socketpair, 0, 4),
    ld(offArgLow(0)),
    jeq(1, 1, 0),
    ret(SECCOMP_RET.ERRNO | EAFNOSUPPORT),
    ret(SECCOMP_RET.ALLOW),
  );
  p.push(ret(SECCOMP_RET.ALLOW));
  return p;
}

/** The filter in the binary form `bwrap --seccomp` reads (an array of struct sock_filter). */
export function seccompFilter(arch: keyof typeof ARCHES): Buffer {
  const prog = seccompProgram(arch);
  const buf = Buffer.alloc(prog.length * 8);
  prog.forEach((insn, i) => {
    buf.writeUInt16LE(insn.code, i * 8);
    buf.writeUInt8(insn.jt, i * 8 + 2);
    buf.writeUInt8(insn.jf, i * 8 + 3);
    buf.writeUInt32LE(insn.k >>> 0, i * 8 + 4);
  });
  return buf;
}
