/**
 * Writes validated archive entries under one fresh directory, never through a link.
 *
 * The tree keeps its own record of every path it has created. Because it only ever creates
 * with exclusive calls (mkdir, open O_EXCL|O_NOFOLLOW, symlink, link all fail on an existing
 * path) inside a directory that did not exist before, that record is exactly what is on disk,
 * so checking a parent against it is as good as an lstat of each component, and cheaper. A
 * path whose parent is a symlink or a file is refused; so is a name that the file system
 * folds onto an existing one (case-insensitive or normalising file systems: EEXIST).
 */
import { constants } from 'node:fs';
import { chmod, link, mkdir, open, symlink, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { KilnError } from '../protocol/errors.ts';

type Kind = 'dir' | 'file' | 'symlink';

const FILE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | (constants.O_NOFOLLOW ?? 0);

/** Directories are always 0755; files 0755 when any execute bit was set, else 0644. */
export function fileMode(mode: number | undefined): number {
  return (mode ?? 0) & 0o111 ? 0o755 : 0o644;
}

export class SafeTree {
  readonly root: string;
  readonly #kinds = new Map<string, Kind>();

  /** `root` must be an empty directory this process has just created. */
  constructor(root: string) {
    this.root = root;
  }

  /** A directory (merged with an existing one of the same name). */
  async dir(name: string, segments: string[]): Promise<void> {
    await this.#parents(name, segments);
    const kind = this.#kinds.get(segments.join('/'));
    if (kind === 'dir') return;
    if (kind !== undefined) throw invalid(name, `would replace a ${kind} with a directory`);
    await this.#mkdir(name, segments);
  }

  /** A regular file whose contents come from `data`; returns the number of bytes written. */
  async file(
    name: string,
    segments: string[],
    mode: number,
    data: AsyncIterable<Uint8Array>,
  ): Promise<number> {
    const path = await this.#prepare(name, segments, 'file');
    const fh = await exclusive(name, () => open(path, FILE_FLAGS, mode));
    let written = 0;
    try {
      for await (const chunk of data) {
        for (let off = 0; off < chunk.byteLength;) {
          const { bytesWritten } = await fh.write(chunk, off);
          off += bytesWritten;
        }
        written += chunk.byteLength;
      }
      await fh.chmod(mode); // the umask may have taken bits away
    } finally {
      await fh.close();
    }
    return written;
  }

  /** A symlink; its `target` must already have passed `symlinkTargetProblem`. */
  async symlink(name: string, segments: string[], target: string): Promise<void> {
    const path = await this.#prepare(name, segments, 'symlink');
    await exclusive(name, () => symlink(target, path));
  }

  /** A hard link to a regular file extracted earlier from the same archive. */
  async hardlink(name: string, segments: string[], targetName: string, target: string[]): Promise<void> {
    const key = target.join('/');
    const kind = this.#kinds.get(key);
    if (kind !== 'file') {
      const why = kind === undefined ? 'which is not an earlier entry' : `which is a ${kind}, not a file`;
      throw invalid(name, `hard link to "${targetName}", ${why}`);
    }
    if (key === segments.join('/')) throw invalid(name, 'hard link to itself');
    const path = await this.#prepare(name, segments, 'file');
    await exclusive(name, () => link(join(this.root, ...target), path));
  }

  /** Checks the parents, and removes an earlier entry of the same kind that this one replaces. */
  async #prepare(name: string, segments: string[], kind: Kind): Promise<string> {
    await this.#parents(name, segments);
    const key = segments.join('/');
    const path = join(this.root, ...segments);
    const existing = this.#kinds.get(key);
    if (existing === kind) await unlink(path);
    else if (existing !== undefined) throw invalid(name, `would replace a ${existing} with a ${kind}`);
    this.#kinds.set(key, kind);
    return path;
  }

  /** Creates missing parent directories; refuses a parent that is anything but a directory. */
  async #parents(name: string, segments: string[]): Promise<void> {
    for (let i = 1; i < segments.length; i++) {
      const parent = segments.slice(0, i);
      const kind = this.#kinds.get(parent.join('/'));
      if (kind === 'dir') continue;
      if (kind !== undefined) throw invalid(name, `goes through the ${kind} "${parent.join('/')}"`);
      await this.#mkdir(name, parent);
    }
  }

  async #mkdir(name: string, segments: string[]): Promise<void> {
    const path = join(this.root, ...segments);
    await exclusive(name, () => mkdir(path, 0o755));
    this.#kinds.set(segments.join('/'), 'dir');
    await chmod(path, 0o755);
  }
}

/** An `ERR_ARCHIVE_INVALID` naming the entry. */
export function invalid(name: string, problem: string): KilnError {
  return new KilnError('ERR_ARCHIVE_INVALID', `archive entry "${printable(name)}": ${problem}`, {
    detail: { entry: printable(name) },
  });
}

/** The name with control characters escaped, for messages. */
function printable(name: string): string {
  // eslint-disable-next-line no-control-regex
  return name.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

async function exclusive<T>(name: string, create: () => Promise<T>): Promise<T> {
  try {
    return await create();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw invalid(name, 'collides with another entry (a case-insensitive or normalising file system?)');
    }
    throw err;
  }
}
