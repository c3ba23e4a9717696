/**
 * The upstream tree of a Debian source package, as `apt-get source --download-only PKG` gives
 * it: downloaded once into bench/.work/<pkg>/, its `.orig` tarball extracted once, then reused.
 * When apt has no deb-src entries, root adds them for the same archives as the binary ones;
 * anyone else is told the command to run.
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { run, type Ran } from './proc.ts';

const isRoot = process.getuid?.() === 0;
/** Debian's own archive entries: deb822 (Debian 12 and later), or one-line (older). */
const DEB822 = '/etc/apt/sources.list.d/debian.sources';
const ONE_LINE = '/etc/apt/sources.list';
const DEB_SRC_FILE = '/etc/apt/sources.list.d/kiln-bench-deb-src';

async function hasDebSrc(): Promise<boolean> {
  const files = [ONE_LINE];
  for (const f of await readdir('/etc/apt/sources.list.d').catch(() => [] as string[]))
    if (f.endsWith('.list') || f.endsWith('.sources')) files.push(join('/etc/apt/sources.list.d', f));
  for (const f of files) {
    const text = await readFile(f, 'utf8').catch(() => '');
    if (/^\s*deb-src\s/m.test(text) || /^Types:.*\bdeb-src\b/m.test(text)) return true;
  }
  return false;
}

/** The command that adds source entries for the same archives as the binary ones. */
function debSrcCommand(): string {
  return existsSync(DEB822)
    ? `sed 's/^Types: deb$/Types: deb-src/' ${DEB822} > ${DEB_SRC_FILE}.sources && apt-get update`
    : `sed -n 's/^deb /deb-src /p' ${ONE_LINE} > ${DEB_SRC_FILE}.list && apt-get update`;
}

async function addDebSrc(): Promise<void> {
  const cmd = debSrcCommand();
  console.log(`apt has no deb-src entries; adding them: ${cmd}`);
  const r = await run('sh', ['-c', cmd]);
  if (r.code !== 0) throw new Error(`adding deb-src entries failed:\n${r.stderr}`);
}

const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

async function findOrig(dir: string, pkg: string): Promise<string | null> {
  const re = new RegExp(`^${escapeRe(pkg)}_[\\w.~+]+\\.orig\\.tar\\.(gz|xz|bz2)$`);
  const f = (await readdir(dir)).find((n) => re.test(n));
  return f ? join(dir, f) : null;
}

/** `apt-get source --download-only PKG` into `dir`, adding deb-src entries first if root needs them. */
async function download(dir: string, pkg: string): Promise<void> {
  const get = (): Promise<Ran> => run('apt-get', ['source', '--download-only', pkg], { cwd: dir });
  let r = await get();
  if (r.code === 0) return;
  if (r.code === 127)
    throw new Error(`apt-get is not available: put ${pkg}_<version>.orig.tar.gz into ${dir} and run again`);
  if (!(await hasDebSrc())) {
    if (!isRoot)
      throw new Error(
        `apt has no deb-src entries, so \`apt-get source ${pkg}\` cannot work. As root, run:\n` +
          `  sudo sh -c "${debSrcCommand()}"\n` +
          `(or put ${pkg}_<version>.orig.tar.gz into ${dir}) and run the bench again.`,
      );
    await addDebSrc();
  } else if (isRoot) {
    await run('apt-get', ['update']); // deb-src entries that were never fetched
  }
  r = await get();
  if (r.code !== 0) throw new Error(`apt-get source ${pkg} failed:\n${r.stderr}`);
}

/**
 * The upstream tree of `pkg`: the directory of the extracted `.orig` tarball that holds `marker`
 * (a file name relative to the tree, such as `src/Makefile`).
 */
export async function debianSource(
  work: string,
  pkg: string,
  marker: string,
): Promise<{ dir: string; version: string }> {
  const dl = join(work, pkg);
  await mkdir(dl, { recursive: true });
  let orig = await findOrig(dl, pkg);
  if (!orig) {
    console.log(`fetching the ${pkg} source: apt-get source --download-only ${pkg}`);
    await download(dl, pkg);
    orig = await findOrig(dl, pkg);
    if (!orig) throw new Error(`apt-get source ${pkg} left no ${pkg}_*.orig.tar.* in ${dl}`);
  }
  const version = /_([\w.~+]+)\.orig/.exec(basename(orig))![1]!;
  const upstream = join(dl, `upstream-${version}`);
  if (!existsSync(join(upstream, '.extracted'))) {
    await rm(upstream, { recursive: true, force: true });
    await mkdir(upstream, { recursive: true });
    const x = await run('tar', ['-xf', orig, '-C', upstream]);
    if (x.code !== 0) throw new Error(`cannot extract ${orig}: ${x.stderr}`);
    await writeFile(join(upstream, '.extracted'), `${basename(orig)}\n`);
  }
  for (const d of await readdir(upstream, { withFileTypes: true }))
    if (d.isDirectory() && existsSync(join(upstream, d.name, marker)))
      return { dir: join(upstream, d.name), version };
  throw new Error(`${orig} holds no upstream tree with ${marker}`);
}
