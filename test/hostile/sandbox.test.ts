/**
 * Hostile tenant, inside the sandbox: what a job can reach from its processes — sockets (vsock,
 * loopback, the Internet), the host's files and other jobs' directories, privilege, ptrace, and
 * the host paths the sandbox shows. Every try runs in a real job on a bwrap builder.
 */
import { describe } from 'node:test';
import { createServer, type Server } from 'node:net';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { api, readLog, waitJob } from '../helpers/http.ts';
import { useHostileFarm } from './farm.ts';
import { probe, probeSpec, triesOf } from './probe.ts';
import { hostileSuite, tried } from './tally.ts';

const suite = hostileSuite('sandbox');
/** Tries of the privilege attack that use x86_64 syscall numbers. */
const X64_ONLY = ['personality(READ_IMPLIES_EXEC)', 'modify_ldt', 'remap_file_pages'];

describe('hostile tenant: inside the sandbox', { concurrency: 4, timeout: 240_000 }, () => {
  const h = useHostileFarm();
  const py = (s: string): string => JSON.stringify(s);

  suite.attack('vsock', async () =>
    probe(
      h,
      h.acme(),
      ['stream socket, bind', 'datagram socket', 'raw socket(40, 1, 0)', 'socketpair(AF_VSOCK)'],
      `
def stream():
    s = socket.socket(40, socket.SOCK_STREAM)
    s.bind((0xFFFFFFFF, 4242))
    return s.getsockname()
attempt("stream socket, bind", stream)
attempt("datagram socket", lambda: socket.socket(40, socket.SOCK_DGRAM))
attempt("raw socket(40, 1, 0)", lambda: check(libc.socket(40, 1, 0)))
attempt("socketpair(AF_VSOCK)", lambda: socket.socketpair(40, socket.SOCK_STREAM))
`,
    ),
  );

  suite.attack('ptrace-init', async () => {
    const ran = await h.run(
      h.acme(),
      probeSpec(
        `
import subprocess
attempt("PTRACE_ATTACH pid 1", lambda: check(libc.ptrace(16, 1, 0, 0)))
attempt("PTRACE_SEIZE pid 1", lambda: check(libc.ptrace(0x4206, 1, 0, 0)))
def strace():
    p = subprocess.run(["timeout", "3", "strace", "-p", "1"], capture_output=True)
    if b"attached" not in p.stderr:
        raise OSError(p.stderr.decode()[-160:])
    return p.returncode
attempt("strace -p 1", strace)
`,
        { limits: { timeoutSec: 30, graceSec: 1 } },
      ),
    );
    const tries = triesOf(ran, ['PTRACE_ATTACH pid 1', 'PTRACE_SEIZE pid 1', 'strace -p 1']);
    tries.push(
      tried('job still running after its command exits', ran.job?.state === 'succeeded', ran.job?.state),
    );
    return tries;
  });

  suite.attack('network', async () => {
    const farm = h.farm();
    const redisPort = Number(new URL(farm.redis.url).port);
    const gwPort = Number(new URL(farm.url).port);
    const abstract = `kiln-hostile-${randomBytes(6).toString('hex')}`;
    const server: Server = createServer((s) => s.end('hello from the host\n'));
    await new Promise<void>((r) => server.listen(`\0${abstract}`, r));
    try {
      return await probe(
        h,
        h.acme(),
        [
          "the farm's Redis on 127.0.0.1",
          'the gateway on 127.0.0.1',
          'the gateway on ::1',
          "a host's abstract unix socket",
          'TCP to 1.1.1.1:443',
          'UDP to 8.8.8.8:53',
          'resolve example.com',
        ],
        `
def tcp(host, port, fam=socket.AF_INET):
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(3)
    s.connect((host, port))
    return s.recv(64) if port != 443 else "connected"
def redis():
    s = socket.socket(); s.settimeout(3); s.connect(("127.0.0.1", ${redisPort}))
    s.sendall(b"PING\\r\\n"); return s.recv(64)
def abstract():
    s = socket.socket(socket.AF_UNIX); s.settimeout(3); s.connect("\\0" + ${py(abstract)}); return s.recv(64)
def udp():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    return s.sendto(b"\\x12\\x34\\x01\\x00\\x00\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00", ("8.8.8.8", 53))
attempt("the farm's Redis on 127.0.0.1", redis)
attempt("the gateway on 127.0.0.1", lambda: tcp("127.0.0.1", ${gwPort}))
attempt("the gateway on ::1", lambda: tcp("::1", ${gwPort}, socket.AF_INET6))
attempt("a host's abstract unix socket", abstract)
attempt("TCP to 1.1.1.1:443", lambda: tcp("1.1.1.1", 443))
attempt("UDP to 8.8.8.8:53", udp)
attempt("resolve example.com", lambda: socket.getaddrinfo("example.com", 443))
`,
      );
    } finally {
      server.close();
    }
  });

  suite.attack('host-files', async () => {
    const farm = h.farm();
    const rival = h.rival();
    const secret = `rival-secret-${randomBytes(6).toString('hex')}`;
    const created = await api(rival, '/api/v1/jobs', {
      method: 'POST',
      json: { argv: ['sh', '-c', `echo ${secret} > secret; echo ready; sleep 120`] },
    });
    const rivalId = (created.body as { job: { id: string } }).job.id;
    while (!(await readLog(rival, rivalId, false)).stdout.includes('ready'))
      await new Promise((r) => setTimeout(r, 100));
    const work = join(farm.dataDir, 'work-0');
    // Where the rival's file really is on the host (job directories have opaque names).
    const found = spawnSync('find', [work, '-maxdepth', '6', '-name', 'secret', '-type', 'f'], {
      encoding: 'utf8',
    }).stdout.split('\n');
    const rivalFile = found.find((f) => f && readFileSync(f, 'utf8').includes(secret));
    if (!rivalFile) throw new Error(`the rival's job file is not under ${work}: ${found.join(' ')}`);
    try {
      const tries = await probe(
        h,
        h.acme(),
        [
          '/etc/shadow',
          "the builder's work directory",
          "the builder's config (Redis URL, store)",
          "another tenant's running job directory",
          'the same through /proc/1/root',
          "the builder process's environment",
          "bwrap's environment",
          'write /usr',
          'write /',
        ],
        `
def environ():
    env = open("/proc/1/environ", "rb").read().split(b"\\0")
    extra = [e for e in env if e and e not in (b"PATH=/usr/bin:/bin", b"PWD=/")]
    if not extra:
        raise PermissionError("only PATH=/usr/bin:/bin and PWD=/")
    return extra
attempt("/etc/shadow", lambda: open("/etc/shadow").read())
attempt("the builder's work directory", lambda: os.listdir(${py(work)}))
attempt("the builder's config (Redis URL, store)", lambda: open(${py(join(farm.dataDir, 'builder-0.toml'))}).read())
attempt("another tenant's running job directory", lambda: open(${py(rivalFile)}).read())
attempt("the same through /proc/1/root", lambda: open("/proc/1/root" + ${py(rivalFile)}).read())
attempt("the builder process's environment", lambda: open("/proc/${h.builderPid()}/environ").read())
attempt("bwrap's environment", environ)
attempt("write /usr", lambda: open("/usr/kiln-hostile", "w").write("x"))
attempt("write /", lambda: open("/kiln-hostile", "w").write("x"))
`,
      );
      return tries;
    } finally {
      await api(rival, `/api/v1/jobs/${rivalId}/cancel`, { method: 'POST' });
    }
  });

  suite.attack('privilege', async () =>
    probe(
      h,
      h.acme(),
      [
        'setuid(0)',
        'setgid(0)',
        'a setuid-root binary (mount)',
        'su root',
        'effective capabilities',
        'no_new_privs off',
        'mount a tmpfs',
        'unshare a user namespace',
        'unshare a mount namespace',
        'chroot',
        'setns into /proc/1/ns/net',
        'ptrace a child',
        'keyctl',
        'bpf',
        'perf_event_open',
        'userfaultfd',
        'init_module',
        'write /proc/sys',
        ...(process.arch === 'x64' ? X64_ONLY : []),
      ],
      `
import subprocess, time
def run_ok(argv):
    p = subprocess.run(argv, capture_output=True, timeout=10)
    if p.returncode != 0:
        raise OSError(p.returncode, p.stderr.decode()[-120:])
    return p.stdout
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return line.split()[1]
def caps():
    v = int(status("CapEff"), 16)
    if v == 0:
        raise PermissionError("CapEff 0")
    return hex(v)
def nnp():
    if status("NoNewPrivs") == "1":
        raise PermissionError("NoNewPrivs 1")
    return status("NoNewPrivs")
def child():
    pid = os.fork()
    if pid == 0:
        time.sleep(5); os._exit(0)
    try:
        return check(libc.ptrace(16, pid, 0, 0))
    finally:
        os.kill(pid, 9)
def setns():
    fd = os.open("/proc/1/ns/net", os.O_RDONLY)
    return check(libc.setns(fd, 0))
os.makedirs("/tmp/m", exist_ok=True)
attempt("setuid(0)", lambda: os.setuid(0))
attempt("setgid(0)", lambda: os.setgid(0))
attempt("a setuid-root binary (mount)", lambda: run_ok(["/usr/bin/mount", "-t", "tmpfs", "none", "/tmp/m"]))
attempt("su root", lambda: run_ok(["/usr/bin/su", "-c", "id -u", "root"]))
attempt("effective capabilities", caps)
attempt("no_new_privs off", nnp)
attempt("mount a tmpfs", lambda: check(libc.mount(b"none", b"/tmp/m", b"tmpfs", 0, None)))
attempt("unshare a user namespace", lambda: check(libc.unshare(0x10000000)))
attempt("unshare a mount namespace", lambda: check(libc.unshare(0x00020000)))
attempt("chroot", lambda: os.chroot("/tmp"))
attempt("setns into /proc/1/ns/net", setns)
attempt("ptrace a child", child)
attempt("keyctl", lambda: check(libc.syscall(250, 0, 0, 0, 0, 0)))
attempt("bpf", lambda: check(libc.syscall(321, 0, 0, 0)))
attempt("perf_event_open", lambda: check(libc.syscall(298, 0, 0, -1, -1, 0)))
attempt("userfaultfd", lambda: check(libc.syscall(323, 0)))
attempt("init_module", lambda: check(libc.syscall(175, 0, 0, b"")))
attempt("write /proc/sys", lambda: open("/proc/sys/kernel/hostname", "w").write("pwned"))
if ${process.arch === 'x64' ? 'True' : 'False'}:
    # Calls a deny-list let through and the allow-list refuses (x86_64 numbers).
    attempt("personality(READ_IMPLIES_EXEC)", lambda: check(libc.syscall(135, 0x0400000)))
    attempt("modify_ldt", lambda: check(libc.syscall(154, 0, ctypes.create_string_buffer(16), 16)))
    attempt("remap_file_pages", lambda: check(libc.syscall(216, 0, 0, 0, 0, 0)))
`,
    ),
  );

  suite.attack('host-paths-visible', async () => {
    const farm = h.farm();
    const acme = h.acme();
    const created = await api(acme, '/api/v1/jobs', {
      method: 'POST',
      json: probeSpec(`
for path in ("/proc/1/cmdline", "/proc/self/mountinfo"):
    try:
        text = open(path, "rb").read().replace(b"\\0", b" ").decode(errors="replace")
        print(json.dumps({"what": path, "text": text}))
    except OSError as e:
        print(json.dumps({"what": path, "text": "", "error": str(e)}))
`),
    });
    if (created.status !== 201) throw new Error(`the probe was not created: ${created.status}`);
    const id = (created.body as { job: { id: string } }).job.id;
    await waitJob(acme, id);
    const { stdout } = await readLog(acme, id, false);
    const bid = [...farm.builderIds.values()][0]!;
    const shown = stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { what: string; text: string });
    if (shown.length !== 2) throw new Error(`the probe printed ${stdout.slice(0, 300)}`);
    return shown.map(({ what, text }) => {
      const leaked = [farm.dataDir, bid, id].filter((s) => text.includes(s));
      return tried(what, leaked.length === 0, leaked.length ? `shows ${leaked.join(', ')}` : 'no host path');
    });
  });
});

suite.finish();
