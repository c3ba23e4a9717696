/**
 * The reviewed seccomp table of job processes: every syscall a job may make, by group, with why;
 * the ones refused with EPERM (so a caller knows it was refused, not missing); the ones answered
 * ENOSYS so that libc falls back. Any syscall named nowhere here also answers ENOSYS: this is an
 * allow-list. Four calls are allowed only with argument checks (builders/linux/seccomp.ts):
 * clone (no namespace flags), ioctl (no TIOCSTI, TIOCLINUX), socket and socketpair (families).
 *
 * Names are the kernel's (`__NR_<name>`); a name an arch does not have (x86_64's legacy `open`,
 * `stat`, `fork` … on aarch64) is skipped for that arch. To change the table: edit a group, say
 * why in its `why`, run `node --import tsx --test test/sandbox/seccomp.test.ts` (every name must
 * exist on some arch; the numbers are in syscall-numbers.ts, `node scripts/gen-syscalls.mjs`
 * refreshes them from the kernel headers) and the real-build test in test/sandbox/seccomp-build.test.ts.
 */

export interface SyscallGroup {
  /** What the group is. */
  group: string;
  /** Why a job needs it, or why it is refused. */
  why: string;
  calls: readonly string[];
}

/** Allowed without condition. */
export const ALLOWED: readonly SyscallGroup[] = [
  {
    group: 'processes and threads',
    why: 'shells, make and compiler drivers fork and exec; threads (pthreads, Node, linkers) use futex and rseq; no call here reaches another process but through signals or wait',
    // prettier-ignore
    calls: [
      'fork', 'vfork', 'execve', 'execveat', 'exit', 'exit_group', 'wait4', 'waitid', 'kill',
      'tkill', 'tgkill', 'getpid', 'getppid', 'gettid', 'set_tid_address', 'set_robust_list',
      'get_robust_list', 'rseq', 'futex', 'futex_waitv', 'arch_prctl', 'prctl', 'restart_syscall',
      'getpgid', 'setpgid', 'getpgrp', 'getsid', 'setsid', 'pidfd_open', 'pidfd_send_signal',
      'seccomp', 'landlock_create_ruleset', 'landlock_add_rule', 'landlock_restrict_self',
    ],
  },
  {
    group: 'scheduling',
    why: 'make -j and build tools read their CPU affinity; priorities can only be lowered without capabilities',
    // prettier-ignore
    calls: [
      'sched_yield', 'sched_getaffinity', 'sched_setaffinity', 'sched_getparam', 'sched_setparam',
      'sched_getscheduler', 'sched_setscheduler', 'sched_get_priority_max',
      'sched_get_priority_min', 'sched_rr_get_interval', 'sched_getattr', 'sched_setattr',
      'getpriority', 'setpriority', 'getcpu', 'ioprio_get', 'ioprio_set',
    ],
  },
  {
    group: 'signals and timers',
    why: 'every shell and runtime handles signals and timeouts',
    // prettier-ignore
    calls: [
      'rt_sigaction', 'rt_sigprocmask', 'rt_sigreturn', 'rt_sigpending', 'rt_sigtimedwait',
      'rt_sigqueueinfo', 'rt_tgsigqueueinfo', 'rt_sigsuspend', 'sigaltstack', 'pause', 'alarm',
      'getitimer', 'setitimer', 'signalfd', 'signalfd4', 'timer_create', 'timer_settime',
      'timer_gettime', 'timer_getoverrun', 'timer_delete', 'timerfd_create', 'timerfd_settime',
      'timerfd_gettime',
    ],
  },
  {
    group: 'memory',
    why: 'allocation, mapped files, JIT code (V8) and memory protection keys; locking is bounded by RLIMIT_MEMLOCK and the memory cgroup',
    // prettier-ignore
    calls: [
      'brk', 'mmap', 'munmap', 'mremap', 'mprotect', 'madvise', 'msync', 'mincore', 'mlock',
      'mlock2', 'munlock', 'mlockall', 'munlockall', 'membarrier', 'memfd_create', 'pkey_mprotect',
      'pkey_alloc', 'pkey_free', 'get_mempolicy', 'set_mempolicy', 'mbind',
    ],
  },
  {
    group: 'files: reading and writing',
    why: 'what compilers, tar, cp and sed do all day; the mount namespace decides what they reach',
    // prettier-ignore
    calls: [
      'read', 'write', 'readv', 'writev', 'pread64', 'pwrite64', 'preadv', 'pwritev', 'preadv2',
      'pwritev2', 'open', 'openat', 'openat2', 'creat', 'close', 'close_range', 'lseek', 'dup',
      'dup2', 'dup3', 'fcntl', 'flock', 'fsync', 'fdatasync', 'syncfs', 'sync', 'sync_file_range',
      'truncate', 'ftruncate', 'fallocate', 'fadvise64', 'readahead', 'copy_file_range',
      'sendfile', 'splice', 'tee', 'vmsplice',
    ],
  },
  {
    group: 'files: metadata and directories',
    why: 'stat, find, mkdir, mv, ln, chmod, touch, cp -a, tar -x (owners are mapped by the user namespace; mknod of devices needs a capability the job lacks)',
    // prettier-ignore
    calls: [
      'stat', 'fstat', 'lstat', 'newfstatat', 'statx', 'statfs', 'fstatfs', 'access', 'faccessat',
      'faccessat2', 'getdents', 'getdents64', 'getcwd', 'chdir', 'fchdir', 'rename', 'renameat',
      'renameat2', 'mkdir', 'mkdirat', 'rmdir', 'link', 'linkat', 'unlink', 'unlinkat', 'symlink',
      'symlinkat', 'readlink', 'readlinkat', 'chmod', 'fchmod', 'fchmodat', 'chown', 'fchown',
      'lchown', 'fchownat', 'umask', 'utime', 'utimes', 'utimensat', 'futimesat', 'mknod',
      'mknodat', 'setxattr', 'lsetxattr', 'fsetxattr', 'getxattr', 'lgetxattr', 'fgetxattr',
      'listxattr', 'llistxattr', 'flistxattr', 'removexattr', 'lremovexattr', 'fremovexattr',
      'inotify_init', 'inotify_init1', 'inotify_add_watch', 'inotify_rm_watch',
    ],
  },
  {
    group: 'pipes, polling and events',
    why: "shell pipelines, make's jobserver, event loops (Node, Python asyncio)",
    // prettier-ignore
    calls: [
      'pipe', 'pipe2', 'poll', 'ppoll', 'select', 'pselect6', 'epoll_create', 'epoll_create1',
      'epoll_ctl', 'epoll_wait', 'epoll_pwait', 'epoll_pwait2', 'eventfd', 'eventfd2',
      'io_setup', 'io_destroy', 'io_getevents', 'io_pgetevents', 'io_submit', 'io_cancel',
    ],
  },
  {
    group: 'time',
    why: 'reading clocks and sleeping (setting them is refused below)',
    // prettier-ignore
    calls: [
      'clock_gettime', 'clock_getres', 'clock_nanosleep', 'nanosleep', 'gettimeofday', 'time',
      'times',
    ],
  },
  {
    group: 'identity and limits',
    why: "reading ids and limits; changing ids works only within the user namespace's one mapped uid, so it fails as without seccomp",
    // prettier-ignore
    calls: [
      'getuid', 'geteuid', 'getgid', 'getegid', 'getresuid', 'getresgid', 'getgroups', 'setuid',
      'setgid', 'setreuid', 'setregid', 'setresuid', 'setresgid', 'setgroups', 'setfsuid',
      'setfsgid', 'capget', 'capset', 'getrlimit', 'setrlimit', 'prlimit64', 'getrusage',
      'sysinfo', 'uname',
    ],
  },
  {
    group: 'sockets (after socket or socketpair passed the family check)',
    why: 'local IPC (make jobservers, compiler servers, test suites); the network namespace holds no route out',
    // prettier-ignore
    calls: [
      'connect', 'accept', 'accept4', 'bind', 'listen', 'getsockname', 'getpeername',
      'setsockopt', 'getsockopt', 'sendto', 'recvfrom', 'sendmsg', 'recvmsg', 'sendmmsg',
      'recvmmsg', 'shutdown',
    ],
  },
  {
    group: 'System V and POSIX IPC',
    why: 'private to the sandbox (own IPC namespace); some test suites and build tools use them',
    // prettier-ignore
    calls: [
      'shmget', 'shmat', 'shmdt', 'shmctl', 'semget', 'semop', 'semtimedop', 'semctl', 'msgget',
      'msgsnd', 'msgrcv', 'msgctl', 'mq_open', 'mq_unlink', 'mq_timedsend', 'mq_timedreceive',
      'mq_notify', 'mq_getsetattr',
    ],
  },
  {
    group: 'randomness',
    why: 'libc, compilers (-frandom-seed), every runtime',
    calls: ['getrandom'],
  },
];

/** Refused with EPERM: what a job must never do, named so the refusal is explicit. */
export const REFUSED: readonly SyscallGroup[] = [
  {
    group: 'other processes',
    why: 'ptrace could hold the sandbox init and keep a finished job running; nothing may read or write another process',
    calls: [
      'ptrace',
      'process_vm_readv',
      'process_vm_writev',
      'kcmp',
      'pidfd_getfd',
      'process_madvise',
      'process_mrelease',
    ],
  },
  {
    group: 'mounts and namespaces',
    why: 'the sandbox is made of namespaces and mounts; a job changes neither',
    // prettier-ignore
    calls: [
      'mount', 'umount2', 'pivot_root', 'chroot', 'unshare', 'setns', 'open_tree', 'move_mount',
      'fsopen', 'fsconfig', 'fsmount', 'fspick', 'mount_setattr',
    ],
  },
  {
    group: 'kernel attack surface',
    why: 'keyrings, eBPF, perf, userfaultfd and fanotify are frequent kernel-exploit entry points and no build needs them',
    // prettier-ignore
    calls: [
      'add_key', 'request_key', 'keyctl', 'bpf', 'perf_event_open', 'userfaultfd',
      'fanotify_init', 'fanotify_mark', 'lookup_dcookie', 'open_by_handle_at', 'name_to_handle_at',
      'move_pages', 'migrate_pages', 'modify_ldt', 'uselib', 'personality', 'memfd_secret',
    ],
  },
  {
    group: 'system administration',
    why: 'kernel modules, kexec, reboot, swap, clocks, host names, quotas, accounting, raw I/O ports',
    // prettier-ignore
    calls: [
      'kexec_load', 'kexec_file_load', 'init_module', 'finit_module', 'delete_module', 'reboot',
      'swapon', 'swapoff', 'syslog', 'acct', 'quotactl', 'quotactl_fd', 'settimeofday',
      'clock_settime', 'clock_adjtime', 'adjtimex', 'sethostname', 'setdomainname', 'iopl',
      'ioperm', 'vhangup',
    ],
  },
];

/**
 * Answered ENOSYS (as if the kernel had no such call), so libc and runtimes fall back: clone3
 * (its flags are in memory a filter cannot read; glibc then uses clone, whose flags it checks)
 * and io_uring (a large kernel surface; libuv and others fall back to threads).
 */
export const NOT_IMPLEMENTED: readonly SyscallGroup[] = [
  {
    group: 'fallbacks',
    why: 'clone3 flags cannot be inspected; io_uring is refused as attack surface',
    calls: ['clone3', 'io_uring_setup', 'io_uring_enter', 'io_uring_register'],
  },
];

/** Socket families by profile network setting: numbers of AF_*. */
export const SOCKET_FAMILIES = {
  /** AF_UNIX only. */
  none: [1],
  /** AF_UNIX, AF_INET, AF_INET6: the sandbox's own loopback (its network namespace is empty). */
  loopback: [1, 2, 10],
} as const;
