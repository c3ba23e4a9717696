/**
 * Collects the host files of a toolchain root: each path is resolved the way the kernel does,
 * and every symbolic link met on the way is kept as a link (rewritten to a relative target), so
 * the root mirrors the host (`/usr/bin/gcc -> gcc-12`, `/lib -> usr/lib`). Programs and shared
 * libraries bring their libraries (ldd) and GNU ld scripts the files they name. Used by
 * client/toolchain/package.ts.
 */
import { lstat, readdir, readlink } from 'node:fs/promises';
import { posix } from 'node:path';
import { KilnError } from '../../protocol/errors.ts';
import {
  linkerScriptInputs,
  loadableOn,
  readElfIdent,
  sharedLibraries,
  type ElfIdent,
} from './package-elf.ts';

/**
 * Top-level names the Linux sandbox mounts itself (ROOT_SKIPPED in builders/linux/bwrap-args.ts):
 * a toolchain file there would be hidden, so it is refused.
 */
const RESERVED_TOP = new Set(['proc', 'dev', 'sys', 'tmp', 'job', 'run']);
/** Symbolic links followed while resolving one path, as Linux allows. */
const MAX_LINKS = 40;

export interface CollectorOptions {
  /** The ELF identity of the compiler driver: files of that kind are given to ldd. */
  hostElf: ElfIdent;
  /** Finds a library a linker script names without a path (`libgcc_s.so.1`), as the compiler would. */
  findLibrary(name: string): Promise<string | undefined>;
  /** Called for each file added. */
  onFile?(path: string): void;
}

/** A path the collector could not use: missing, a broken link, or in a reserved place. */
class Unusable extends Error {
  readonly code: 'ERR_NOT_FOUND' | 'ERR_VALIDATION';
  constructor(message: string, code: 'ERR_NOT_FOUND' | 'ERR_VALIDATION' = 'ERR_VALIDATION') {
    super(message);
    this.code = code;
  }
}

/** What to do with a path. */
export interface AddHow {
  /** Throw when it is missing or broken (otherwise it is listed in `skipped`). */
  required: boolean;
  /** A directory is taken with everything below it (otherwise only the directory itself). */
  tree?: boolean;
}

export class RootCollector {
  /** Real host path of each regular file → its size. */
  readonly files = new Map<string, number>();
  /** Host path of each symbolic link (its directory is real) → the relative target stored. */
  readonly links = new Map<string, string>();
  /** Directories to create even when empty. */
  readonly dirs = new Set<string>();
  /** Optional paths left out, each with the reason. */
  readonly skipped: string[] = [];
  readonly #opts: CollectorOptions;
  readonly #walked = new Set<string>();
  /** Link path → the real path it resolves to (links resolved once). */
  readonly #resolved = new Map<string, string>();

  constructor(opts: CollectorOptions) {
    this.#opts = opts;
  }

  /** Adds the host path `path` (absolute), with the links leading to it. */
  async add(path: string, how: AddHow): Promise<void> {
    let real: string;
    try {
      real = await this.#resolve(path, true, 0);
      const st = await lstat(real);
      if (st.isDirectory()) {
        if (how.tree) await this.#addTree(real);
        else this.#addDir(real);
      } else if (st.isFile()) {
        await this.#addFile(real, st.size);
      } else {
        throw new Unusable(`${path} is not a regular file or directory`);
      }
    } catch (err) {
      if (!(err instanceof Unusable)) throw err;
      if (how.required) throw new KilnError(err.code, err.message);
      this.skipped.push(err.message);
    }
  }

  /** Resolves `path` component by component, recording every link met; returns the real path. */
  async #resolve(path: string, followLast: boolean, depth: number): Promise<string> {
    if (depth > MAX_LINKS) throw new Unusable(`${path}: too many levels of symbolic links`);
    const segs = path.split('/').filter((s) => s !== '' && s !== '.');
    let cur = '/';
    for (let i = 0; i < segs.length; i++) {
      const s = segs[i] ?? '';
      if (s === '..') {
        cur = posix.dirname(cur);
        continue;
      }
      const next = posix.join(cur, s);
      const st = await lstat(next).catch(() => undefined);
      if (st === undefined) throw new Unusable(`${next} does not exist`, 'ERR_NOT_FOUND');
      const last = i === segs.length - 1;
      cur = st.isSymbolicLink() && (!last || followLast) ? await this.#link(next, depth) : next;
    }
    return cur;
  }

  /** Records the link at `link` (whose directory is real) and returns the real path it leads to. */
  async #link(link: string, depth: number): Promise<string> {
    const known = this.#resolved.get(link);
    if (known !== undefined) return known;
    reserved(link);
    const text = await readlink(link);
    const dir = posix.dirname(link);
    const target = text.startsWith('/') ? text : `${dir}/${text}`;
    const segs = target.split('/').filter((s) => s !== '' && s !== '.');
    const name = segs.at(-1);
    let stored: string;
    let real: string;
    try {
      if (name === undefined || name === '..') {
        real = await this.#resolve(target, true, depth + 1);
        stored = posix.relative(dir, real) || '.';
      } else {
        // Keep the chain: the link names the next link, not its final target.
        const parent = await this.#resolve(`/${segs.slice(0, -1).join('/')}`, true, depth + 1);
        stored = posix.relative(dir, posix.join(parent, name)) || '.';
        real = await this.#resolve(posix.join(parent, name), true, depth + 1);
      }
    } catch (err) {
      if (!(err instanceof Unusable) || /too many levels/.test(err.message)) throw err;
      throw new Unusable(`${link} is a broken symbolic link (to ${text}: ${err.message})`);
    }
    this.links.set(link, stored);
    this.#resolved.set(link, real);
    return real;
  }

  #addDir(real: string): void {
    reserved(real);
    if (real !== '/') this.dirs.add(real);
  }

  async #addTree(real: string): Promise<void> {
    if (this.#walked.has(real)) return;
    if (real.split('/').length < 3) {
      throw new KilnError('ERR_VALIDATION', `odd layout: the toolchain would take all of ${real}`);
    }
    this.#walked.add(real);
    this.#addDir(real);
    for (const name of (await readdir(real)).sort()) {
      const p = posix.join(real, name);
      const st = await lstat(p);
      if (st.isDirectory()) await this.#addTree(p);
      else if (st.isFile()) await this.#addFile(p, st.size, (st.mode & 0o111) !== 0);
      else if (st.isSymbolicLink()) await this.add(p, { required: false, tree: true });
      else this.skipped.push(`${p} is not a regular file, directory or link`);
    }
  }

  async #addFile(real: string, size: number, executable = true): Promise<void> {
    if (this.files.has(real)) return;
    reserved(real);
    this.files.set(real, size);
    this.#opts.onFile?.(real);
    const base = posix.basename(real);
    const soLike = /\.so(\.|$)/.test(base);
    if (!executable && !soLike) return; // headers, archives, objects: nothing to follow
    const elf = await readElfIdent(real);
    if (elf !== undefined) {
      if (loadableOn(elf, this.#opts.hostElf)) {
        for (const lib of await sharedLibraries(real)) await this.add(lib, { required: true });
      }
      return;
    }
    if (!soLike) return;
    for (const input of (await linkerScriptInputs(real)) ?? []) {
      if (input.startsWith('/')) {
        await this.add(input, { required: true });
        continue;
      }
      const names = input.startsWith('-l') ? [`lib${input.slice(2)}.so`, `lib${input.slice(2)}.a`] : [input];
      let found: string | undefined;
      for (const n of names) found ??= await this.#opts.findLibrary(n);
      if (found !== undefined) await this.add(found, { required: true });
      else this.skipped.push(`${input} (named by the linker script ${real}) was not found`);
    }
  }
}

function reserved(path: string): void {
  const top = path.split('/')[1] ?? '';
  if (RESERVED_TOP.has(top)) {
    throw new Unusable(
      `${path} is under /${top}, which every sandbox mounts itself: it cannot be in a toolchain`,
    );
  }
}
