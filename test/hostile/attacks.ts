/**
 * The hostile-tenant suite's attack table: every wrong answer of the review in issue 14 (points
 * 1–10, split into one named attack per wrong answer) and the categories that held (network, host
 * files, privilege, bombs, archives, cross-tenant, cache writes). Each attack is run against a
 * real farm by the test file named in `file`; `todo` says why an attack that is not fixed yet is
 * run but not counted as a failure (and who fixes it).
 */

export type Category =
  'issue' | 'network' | 'host files' | 'privilege' | 'bombs' | 'archives' | 'cross-tenant' | 'cache writes';

/** The test files of the suite (test/hostile/<file>.test.ts). */
export type SuiteFile = 'sandbox' | 'door' | 'inputs' | 'resources' | 'tenants' | 'flood';

export interface Attack {
  /** Stable name, shown in the table. */
  id: string;
  /** The point of issue 14 it reproduces, or '' for a category that held. */
  issue: string;
  category: Category;
  /** What the tenant tries. */
  title: string;
  file: SuiteFile;
  /** Run, but not yet expected to be refused: why, and whose change fixes it. */
  todo?: string;
}

export const ATTACKS: readonly Attack[] = [
  // Issue 14, one attack per wrong answer.
  {
    id: 'output-held-in-builder',
    issue: '1',
    category: 'issue',
    file: 'resources',
    title: 'a 512 MiB declared output must not grow the builder process by its size',
  },
  {
    id: 'log-in-redis',
    issue: '2',
    category: 'issue',
    file: 'resources',
    title: 'a job asking for 1 GiB of log and writing 32 MiB must not put it in Redis',
  },
  {
    id: 'log-held-in-builder',
    issue: '1',
    category: 'issue',
    file: 'resources',
    title: 'write 256 MiB of log as fast as it can: must not grow the builder by its size',
  },
  {
    id: 'vsock',
    issue: '3',
    category: 'issue',
    file: 'sandbox',
    title: 'create and bind AF_VSOCK sockets (not covered by the network namespace)',
  },
  {
    id: 'output-link-oracle',
    issue: '4',
    category: 'issue',
    file: 'inputs',
    title: 'declare outputs through links to probe which host files exist',
  },
  {
    id: 'host-paths-visible',
    issue: '4',
    category: 'issue',
    file: 'sandbox',
    title: "read the builder's work directory, builder id and job id from /proc/1/cmdline and mountinfo",
  },
  {
    id: 'blobs-missing-flood',
    issue: '5',
    category: 'issue',
    file: 'door',
    title: 'POST /api/v1/blobs/missing with 100,000 digests',
  },
  {
    id: 'manifest-size-lie',
    issue: '6',
    category: 'issue',
    file: 'inputs',
    title: 'manifest entries declaring size 1 for 1 MiB blobs',
  },
  {
    id: 'limits-above-maximum',
    issue: '7',
    category: 'issue',
    file: 'door',
    title: 'ask for 24 h, 1 TiB of memory, 65,536 pids, 2 GiB of log',
  },
  {
    id: 'creation-flood',
    issue: '7',
    category: 'issue',
    file: 'flood',
    title: 'one tenant fires 200 creations in 4 s while another submits jobs',
  },
  {
    id: 'disk-quota',
    issue: '7',
    category: 'issue',
    file: 'resources',
    title: 'fallocate -l 5G /job/big',
  },
  {
    id: 'ptrace-init',
    issue: '8',
    category: 'issue',
    file: 'sandbox',
    title: "ptrace the sandbox's PID 1 and keep the job running after its command exits",
  },
  { id: 'nul-bytes', issue: '9', category: 'issue', file: 'door', title: 'NUL bytes in argv and env' },
  {
    id: 'argv-env-e2big',
    issue: '9',
    category: 'issue',
    file: 'door',
    title: 'argv/env over what execve takes (E2BIG on the builder)',
  },
  {
    id: 'bad-base64',
    issue: '9',
    category: 'issue',
    file: 'door',
    title: 'inline files with invalid or unpadded base64',
  },
  {
    id: 'reserved-env-keys',
    issue: '9',
    category: 'issue',
    file: 'door',
    title: 'env keys __proto__, constructor, prototype',
  },
  {
    id: 'special-outputs-dropped',
    issue: '9',
    category: 'issue',
    file: 'inputs',
    title: 'declared outputs that are a FIFO, a socket, a link out: silently dropped?',
  },
  {
    id: 'long-url',
    issue: '9',
    category: 'issue',
    file: 'door',
    title: 'a 60 KB and a 10 KB URL: answered without a JSON body, or not as 414?',
  },
  {
    id: 'big-header',
    issue: '9',
    category: 'issue',
    file: 'door',
    title: 'a 40 KB header: answered without a JSON body?',
  },
  {
    id: 'client-disconnect',
    issue: '9',
    category: 'issue',
    file: 'door',
    title: 'go away mid-body: logged as a 500 with a stack?',
  },
  {
    id: 'slow-body',
    issue: '9',
    category: 'issue',
    file: 'door',
    title: 'a body shorter than its Content-Length, and more connections than the cap',
  },
  {
    id: 'profile-path-leak',
    issue: '10',
    category: 'issue',
    file: 'door',
    title: "an unknown profile: does the error show the builder's file path?",
  },
  // The categories that held in the review, so they stay held.
  {
    id: 'network',
    issue: '',
    category: 'network',
    file: 'sandbox',
    title: "connect to the farm's Redis, the gateway, an abstract socket, the Internet",
  },
  {
    id: 'host-files',
    issue: '',
    category: 'host files',
    file: 'sandbox',
    title: "read /etc/shadow, the builder's work dir and config, another job's dir, write /usr",
  },
  {
    id: 'privilege',
    issue: '',
    category: 'privilege',
    file: 'sandbox',
    title:
      'setuid, capabilities, mount, unshare, chroot, setns, ptrace, kernel calls, calls only an allow-list refuses',
  },
  {
    id: 'blob-cache-flood',
    issue: '',
    category: 'bombs',
    file: 'resources',
    title: "fill the builder's blob cache with distinct inputs past its limit",
  },
  {
    id: 'fork-bomb',
    issue: '',
    category: 'bombs',
    file: 'resources',
    title: 'a fork bomb, bounded by limits.pids',
  },
  {
    id: 'memory-bomb',
    issue: '',
    category: 'bombs',
    file: 'resources',
    title: 'allocate 512 MiB, fill /tmp, under 64 MiB limits',
  },
  {
    id: 'output-flood',
    issue: '',
    category: 'bombs',
    file: 'resources',
    title: 'outputs over limits.outputBytes',
  },
  {
    id: 'log-flood',
    issue: '',
    category: 'bombs',
    file: 'resources',
    title: 'write far more log than limits.logBytes',
  },
  {
    id: 'archive-traversal',
    issue: '',
    category: 'archives',
    file: 'inputs',
    title: 'input tar entries with .., absolute paths, backslashes',
  },
  {
    id: 'archive-links',
    issue: '',
    category: 'archives',
    file: 'inputs',
    title: 'input tar symlink escapes and hard links to outside',
  },
  {
    id: 'archive-devices',
    issue: '',
    category: 'archives',
    file: 'inputs',
    title: 'input tar character/block devices and FIFOs',
  },
  {
    id: 'manifest-escape',
    issue: '',
    category: 'archives',
    file: 'inputs',
    title: 'manifest entries with .., absolute paths, a file through a symlink',
  },
  {
    id: 'cross-tenant-jobs',
    issue: '',
    category: 'cross-tenant',
    file: 'tenants',
    title: "read, follow, cancel, delete another tenant's job, its logs and outputs",
  },
  {
    id: 'cross-tenant-blobs',
    issue: '',
    category: 'cross-tenant',
    file: 'tenants',
    title: "read or use another tenant's blobs",
  },
  {
    id: 'cross-tenant-cache',
    issue: '',
    category: 'cross-tenant',
    file: 'tenants',
    title: "read another tenant's action-cache scope",
  },
  {
    id: 'cache-write',
    issue: '',
    category: 'cache writes',
    file: 'tenants',
    title: 'write the action cache: forged fields, store paths, a failed job, a poisoned blob',
  },
];

/** The attack named `id` (throws for a name that is not in the table). */
export function attackOf(id: string): Attack {
  const a = ATTACKS.find((x) => x.id === id);
  if (!a) throw new Error(`no attack ${id} in test/hostile/attacks.ts`);
  return a;
}
