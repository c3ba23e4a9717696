/**
 * What a toolchain file needs besides itself: the shared libraries of an ELF program or library
 * (through `ldd`), and the files a GNU ld script names (libc.so, libm.so). Used by the packager
 * (client/toolchain/package.ts).
 */
import { execFile } from 'node:child_process';
import { open } from 'node:fs/promises';
import { promisify } from 'node:util';
import { KilnError } from '../../protocol/errors.ts';

const run = promisify(execFile);

/** The ELF identity of a file: enough to tell whether the host's `ldd` can read it. */
export interface ElfIdent {
  /** 1: 32-bit, 2: 64-bit. */
  cls: number;
  /** 1: little-endian, 2: big-endian. */
  data: number;
  /** `e_type`: 1 relocatable, 2 executable, 3 shared object (or PIE), 4 core. */
  type: number;
  /** `e_machine` (62 x86-64, 183 aarch64). */
  machine: number;
}

/** Reads the ELF header of `path`, or undefined when it is not an ELF file. */
export async function readElfIdent(path: string): Promise<ElfIdent | undefined> {
  const fh = await open(path, 'r');
  try {
    const b = Buffer.alloc(20);
    const { bytesRead } = await fh.read(b, 0, 20, 0);
    if (bytesRead < 20 || b.readUInt32BE(0) !== 0x7f454c46) return undefined;
    const cls = b[4] ?? 0;
    const data = b[5] ?? 0;
    const le = data === 1;
    const type = le ? b.readUInt16LE(16) : b.readUInt16BE(16);
    const machine = le ? b.readUInt16LE(18) : b.readUInt16BE(18);
    return { cls, data, type, machine };
  } finally {
    await fh.close();
  }
}

/** True when `elf` is a program or shared object the host (described by `host`) can load. */
export function loadableOn(elf: ElfIdent, host: ElfIdent): boolean {
  return (
    (elf.type === 2 || elf.type === 3) &&
    elf.cls === host.cls &&
    elf.data === host.data &&
    elf.machine === host.machine
  );
}

/**
 * The absolute paths of every shared library `path` loads, recursively, and its ELF
 * interpreter, from the host's `ldd`. A statically linked file gives [].
 * @throws KilnError ERR_VALIDATION when a library is not found.
 */
export async function sharedLibraries(path: string): Promise<string[]> {
  let stdout: string;
  try {
    ({ stdout } = await run('ldd', [path], {
      env: { LC_ALL: 'C', PATH: '/usr/bin:/bin' },
      maxBuffer: 1 << 20,
    }));
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; code?: unknown };
    const text = `${e.stdout ?? ''}${e.stderr ?? ''}`;
    if (/not a dynamic executable|statically linked/.test(text)) return [];
    if (e.code === 'ENOENT') {
      throw new KilnError(
        'ERR_VALIDATION',
        'ldd is not installed: packaging a toolchain needs it (libc-bin)',
      );
    }
    throw new KilnError('ERR_VALIDATION', `ldd ${path} failed: ${text.trim() || String(err)}`, {
      cause: err,
    });
  }
  return parseLdd(path, stdout);
}

/** The paths in `ldd` output (exported for tests). */
export function parseLdd(path: string, stdout: string): string[] {
  const out: string[] = [];
  for (const raw of stdout.split('\n')) {
    const line = raw.trim();
    if (line === '' || line === 'statically linked') continue;
    const arrow = /^(\S+) => (.*?)(?: \(0x[0-9a-f]+\))?$/.exec(line);
    if (arrow) {
      const [, name, where] = arrow;
      if (where === 'not found') {
        throw new KilnError('ERR_VALIDATION', `${path} needs ${name}, which the host's loader cannot find`);
      }
      if (where?.startsWith('/')) out.push(where);
      continue;
    }
    const bare = /^(\/\S+) \(0x[0-9a-f]+\)$/.exec(line); // the interpreter
    if (bare?.[1]) out.push(bare[1]);
  }
  return out;
}

/** Most bytes read when looking for a linker script. */
const SCRIPT_MAX = 64 * 1024;

/**
 * When `path` is a GNU ld script (a text `.so` such as glibc's libc.so), the files it names:
 * absolute paths as they are, bare names and `-lNAME` as written (the linker searches its
 * library path for those). Otherwise undefined.
 */
export async function linkerScriptInputs(path: string): Promise<string[] | undefined> {
  const fh = await open(path, 'r');
  let text: string;
  try {
    const b = Buffer.alloc(SCRIPT_MAX);
    const { bytesRead } = await fh.read(b, 0, SCRIPT_MAX, 0);
    if (bytesRead === SCRIPT_MAX || b.subarray(0, bytesRead).includes(0)) return undefined;
    text = b.subarray(0, bytesRead).toString('utf8');
  } finally {
    await fh.close();
  }
  return parseLinkerScript(text);
}

/** The inputs named by a linker script's GROUP/INPUT/AS_NEEDED (exported for tests). */
export function parseLinkerScript(text: string): string[] | undefined {
  const body = text.replace(/\/\*[\s\S]*?\*\//g, ' ');
  if (!/\b(GROUP|INPUT)\s*\(/.test(body)) return undefined;
  const out: string[] = [];
  for (const m of body.matchAll(/\b(?:GROUP|INPUT)\s*\(((?:[^()]|\([^()]*\))*)\)/g)) {
    for (const tok of (m[1] ?? '').split(/[\s(),]+/)) {
      if (tok === '' || tok === 'AS_NEEDED') continue;
      out.push(tok);
    }
  }
  return out;
}

/** Where ldconfig may be. */
const LDCONFIG = ['/usr/sbin/ldconfig', '/sbin/ldconfig'];

/**
 * Writes `<root>/etc/ld.so.cache` for the libraries inside `root` (from `<root>/etc/ld.so.conf`),
 * with the host's ldconfig, so the loader in the sandbox finds libraries outside its default
 * directories. Deterministic: the cache depends only on the files in `root`. Returns why it was
 * not written (no ld.so.conf in the root, no ldconfig: glibc's default directories still work).
 */
export async function writeLoaderCache(root: string): Promise<string | undefined> {
  const conf = await open(`${root}/etc/ld.so.conf`, 'r').catch(() => undefined);
  if (conf === undefined)
    return 'no /etc/ld.so.conf on the host: the sandbox loader uses its default directories';
  await conf.close();
  for (const ldconfig of LDCONFIG) {
    try {
      // -X: never touch the library links (they are the host's files, hard-linked).
      await run(ldconfig, ['-X', '-r', root], { env: { LC_ALL: 'C' } });
      return undefined;
    } catch (err) {
      const e = err as { code?: unknown; stderr?: string };
      if (e.code === 'ENOENT') continue;
      return `ldconfig failed (${(e.stderr ?? String(err)).trim()}): the sandbox loader uses its default directories`;
    }
  }
  return 'no ldconfig on the host: the sandbox loader uses its default directories';
}
