/**
 * `kiln cc` counters, safe under many concurrent `kiln cc` processes (`make -j16`).
 *
 * Each event is ONE line appended with O_APPEND (a single write of a short line, atomic on local
 * file systems), so writers never lock and never lose each other's events; that costs an open, a
 * write, an fstat and a close (tens of microseconds). Readers (and a writer that sees the events
 * file pass {@link StatsOptions.compactBytes}) fold events into a summary under a lock file:
 *
 * 1. take `<file>.lock` (O_EXCL; a lock older than `staleLockMs` is broken),
 * 2. rename `<file>.events` to `<file>.events.<ms>-<pid>-<rand>` (new writers start a new file),
 * 3. add every rotated file untouched for `graceMs` (a writer that opened it before the rename
 *    has finished by then) to the summary, recording its name in `folded` so a crash between
 *    writing the summary and deleting the file cannot count it twice,
 * 4. write the summary (temp file + rename), delete the folded files, release the lock.
 *
 * Files: `<file>` (summary JSON), `<file>.events` (NDJSON), rotated files, `<file>.lock`.
 * Not for NFS (O_APPEND is not atomic there).
 */
import {
  closeSync,
  fstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { cacheDir } from '../dirs.ts';

/**
 * One outcome per `kiln cc` (`hit`, `miss`, `local`, `fallback`, or `keep`: answered from the local
 * keep of compiles that ran here, client/cc/local-keep.ts), plus `error` when the compiler failed.
 */
export type EventKind = 'hit' | 'miss' | 'local' | 'fallback' | 'keep' | 'error';
/** Why a farm compile fell back to a local one. */
export type FallbackReason = 'unreachable' | '5xx' | 'no capacity' | 'timeout' | 'other';
/** Every {@link FallbackReason}, in the order `kiln stats` documents them. */
export const FALLBACK_REASONS: readonly FallbackReason[] = [
  'unreachable',
  '5xx',
  'no capacity',
  'timeout',
  'other',
];

export interface StatsOptions {
  /** Summary file. @default $KILN_STATS_FILE, else stats.json in the OS's cache place (client/dirs.ts: ~/.cache/kiln on Linux) */
  file?: string;
  /** Environment read for the defaults. @default process.env */
  env?: NodeJS.ProcessEnv;
  /** A writer folds the events file once it is larger than this. @default 1048576 */
  compactBytes?: number;
  /** A rotated events file is folded once untouched for this long. @default 2000 */
  graceMs?: number;
  /** A lock file older than this is taken to be left by a dead process. @default 10000 */
  staleLockMs?: number;
  /** How long a reader waits for the lock before reading without folding. @default 2000 */
  lockWaitMs?: number;
}

export interface Stats {
  /** hits + misses + local + fallbacks + keep hits */
  compiles: number;
  cacheHits: number;
  /** Compiled on a builder. */
  cacheMisses: number;
  /** Served by the farm: hits + misses. */
  remote: number;
  /** Not distributable, or compiled here for a reason of kiln cc's (localReasons). */
  local: number;
  /** Compiles that ran here before, answered from the local keep without running the compiler. */
  keepHits: number;
  fallbacks: number;
  /** Compiles that failed (the user's errors, wherever they ran). */
  errors: number;
  localReasons: Record<string, number>;
  fallbackReasons: Record<string, number>;
  /** When the counters were last reset, or null. */
  since: string | null;
  file: string;
}

interface Summary {
  version: 1;
  since: string | null;
  counts: Record<EventKind, number>;
  local: Record<string, number>;
  fallback: Record<string, number>;
  folded: string[];
}

/** The summary file for these options. */
export function statsFile(opts: StatsOptions = {}): string {
  if (opts.file) return opts.file;
  const env = opts.env ?? process.env;
  if (env.KILN_STATS_FILE) return env.KILN_STATS_FILE;
  return join(cacheDir(env), 'stats.json');
}

/** Appends one event. Never throws: statistics must not break a build. Returns false if it was lost. */
export function recordEvent(
  kind: 'hit' | 'miss' | 'keep' | 'error',
  reason?: undefined,
  opts?: StatsOptions,
): boolean;
export function recordEvent(kind: 'local', reason: string, opts?: StatsOptions): boolean;
export function recordEvent(kind: 'fallback', reason: FallbackReason, opts?: StatsOptions): boolean;
export function recordEvent(kind: EventKind, reason?: string, opts: StatsOptions = {}): boolean {
  const file = statsFile(opts);
  const events = file + '.events';
  const ev: { t: number; k: EventKind; r?: string } = { t: Date.now(), k: kind };
  if (reason !== undefined) ev.r = reason.slice(0, 200);
  const line = JSON.stringify(ev) + '\n';
  try {
    let fd: number;
    try {
      fd = openSync(events, 'a');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      mkdirSync(dirname(events), { recursive: true });
      fd = openSync(events, 'a');
    }
    let size: number;
    try {
      writeSync(fd, line);
      size = fstatSync(fd).size;
    } finally {
      closeSync(fd);
    }
    if (size > (opts.compactBytes ?? 1 << 20)) withLock(file, opts, 0, () => compact(file, opts));
    return true;
  } catch {
    return false;
  }
}

/** Reads the counters (folding old events on the way). */
export function readStats(opts: StatsOptions = {}): Stats {
  const file = statsFile(opts);
  const read = (): Stats => {
    const s = readSummary(file);
    for (const f of rotatedFiles(file)) if (!s.folded.includes(f)) addEvents(s, join(dirname(file), f));
    addEvents(s, file + '.events');
    return toStats(s, file);
  };
  // Without the lock (another reader holds it too long) the result may miss a file being folded.
  const locked = withLock(file, opts, opts.lockWaitMs ?? 2000, () => {
    compact(file, opts);
    return read();
  });
  return locked ?? read();
}

/** Zeroes the counters. */
export function resetStats(opts: StatsOptions = {}): void {
  const file = statsFile(opts);
  mkdirSync(dirname(file), { recursive: true });
  const done = withLock(file, opts, 5000, () => {
    for (const f of rotatedFiles(file)) rm(join(dirname(file), f));
    rm(file + '.events');
    writeSummary(file, { ...emptySummary(), since: new Date().toISOString() });
    return true;
  });
  if (!done) throw new Error(`kiln stats: ${file}.lock is held by another process; try again`);
}

// ---------------------------------------------------------------------------------------------

function emptySummary(): Summary {
  return {
    version: 1,
    since: null,
    counts: { hit: 0, miss: 0, local: 0, fallback: 0, keep: 0, error: 0 },
    local: {},
    fallback: {},
    folded: [],
  };
}

function readSummary(file: string): Summary {
  const s = emptySummary();
  let data: Partial<Summary>;
  try {
    data = JSON.parse(readFileSync(file, 'utf8')) as Partial<Summary>;
  } catch {
    return s;
  }
  if (typeof data.since === 'string') s.since = data.since;
  for (const k of Object.keys(s.counts) as EventKind[]) s.counts[k] = Number(data.counts?.[k]) || 0;
  Object.assign(s.local, data.local);
  Object.assign(s.fallback, data.fallback);
  if (Array.isArray(data.folded)) s.folded = data.folded.filter((x) => typeof x === 'string');
  return s;
}

function writeSummary(file: string, s: Summary): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, JSON.stringify(s) + '\n');
  renameSync(tmp, file);
}

/** Adds the events of one NDJSON file; a torn or foreign line is skipped. */
function addEvents(s: Summary, path: string): void {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return;
  }
  for (const line of text.split('\n')) {
    if (!line) continue;
    let ev: { k?: unknown; r?: unknown };
    try {
      ev = JSON.parse(line) as { k?: unknown; r?: unknown };
    } catch {
      continue;
    }
    const k = ev.k as EventKind;
    if (!(k in s.counts)) continue;
    s.counts[k]++;
    const r = typeof ev.r === 'string' ? ev.r : 'other';
    if (k === 'local') s.local[r] = (s.local[r] ?? 0) + 1;
    if (k === 'fallback') s.fallback[r] = (s.fallback[r] ?? 0) + 1;
  }
}

function toStats(s: Summary, file: string): Stats {
  const c = s.counts;
  return {
    compiles: c.hit + c.miss + c.local + c.fallback + c.keep,
    cacheHits: c.hit,
    cacheMisses: c.miss,
    remote: c.hit + c.miss,
    local: c.local,
    keepHits: c.keep,
    fallbacks: c.fallback,
    errors: c.error,
    localReasons: { ...s.local },
    fallbackReasons: { ...s.fallback },
    since: s.since,
    file,
  };
}

function rotatedFiles(file: string): string[] {
  const prefix = basename(file) + '.events.';
  try {
    return readdirSync(dirname(file)).filter((f) => f.startsWith(prefix));
  } catch {
    return [];
  }
}

function rm(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
}

/** Folds rotated events into the summary. Runs under the lock. */
function compact(file: string, opts: StatsOptions): void {
  const dir = dirname(file);
  const events = file + '.events';
  const rand = Math.random().toString(36).slice(2, 8);
  try {
    renameSync(events, `${events}.${Date.now()}-${process.pid}-${rand}`);
  } catch {
    // no events yet, or (Windows) the file is busy: fold what is already rotated
  }
  const s = readSummary(file);
  const present = rotatedFiles(file);
  const grace = opts.graceMs ?? 2000;
  const now = Date.now();
  const folded = s.folded.filter((f) => present.includes(f));
  const toDelete: string[] = [];
  for (const f of present) {
    const p = join(dir, f);
    if (folded.includes(f)) {
      toDelete.push(f);
      continue;
    }
    const named = Number(f.slice(basename(events).length + 1).split('-')[0]) || 0;
    let mtime: number;
    try {
      mtime = statSync(p).mtimeMs;
    } catch {
      continue;
    }
    if (grace > 0 && now - Math.max(named, mtime) < grace) continue;
    addEvents(s, p);
    folded.push(f);
    toDelete.push(f);
  }
  if (toDelete.length === 0) return;
  s.folded = folded;
  writeSummary(file, s);
  for (const f of toDelete) rm(join(dir, f));
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/** Runs `fn` holding `<file>.lock`; undefined when the lock stays busy for `waitMs`. */
function withLock<T>(file: string, opts: StatsOptions, waitMs: number, fn: () => T): T | undefined {
  const lock = file + '.lock';
  const deadline = Date.now() + waitMs;
  for (let delay = 1; ; delay = Math.min(delay * 2, 50)) {
    try {
      writeFileSync(lock, String(process.pid), { flag: 'wx' });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') return undefined; // e.g. no directory yet
    }
    try {
      if (Date.now() - statSync(lock).mtimeMs > (opts.staleLockMs ?? 10_000)) {
        rm(lock);
        continue;
      }
    } catch {
      continue; // released meanwhile
    }
    if (Date.now() >= deadline) return undefined;
    Atomics.wait(sleeper, 0, 0, delay);
  }
  try {
    return fn();
  } finally {
    rm(lock);
  }
}
