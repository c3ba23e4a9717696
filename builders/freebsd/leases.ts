/**
 * Who owns each pot of a host and until when, kept where no jail can write: the builder's own
 * state file (in its work directory) and Redis. Nothing inside a pot is ever read to decide a
 * pot's life, so a job that rewrites its jail cannot extend it. When the two records disagree, the
 * earlier end of lease wins.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { potLeaseSchema, type PotLease } from '../../protocol/pot-lease.ts';

export type { PotLease };

/** One place where leases are kept. */
export interface LeaseStore {
  all(): Promise<PotLease[]>;
  put(lease: PotLease): Promise<void>;
  remove(name: string): Promise<void>;
}

/** The builder's state file: a JSON object name → lease, replaced atomically on each change. */
export function fileLeaseStore(file: string): LeaseStore {
  let chain: Promise<unknown> = Promise.resolve();
  const read = async (): Promise<Record<string, PotLease>> => {
    let raw: unknown;
    try {
      raw = JSON.parse(await readFile(file, 'utf8'));
    } catch {
      return {};
    }
    const out: Record<string, PotLease> = {};
    for (const v of Object.values(raw as Record<string, unknown>)) {
      const r = potLeaseSchema.safeParse(v);
      if (r.success) out[r.data.name] = r.data;
    }
    return out;
  };
  const update = (fn: (m: Record<string, PotLease>) => void): Promise<void> => {
    const next = chain.then(async () => {
      const m = await read();
      fn(m);
      await mkdir(dirname(file), { recursive: true });
      const tmp = `${file}.${process.pid}.tmp`;
      await writeFile(tmp, JSON.stringify(m), { mode: 0o600 });
      await rename(tmp, file);
    });
    chain = next.catch(() => undefined);
    return next;
  };
  return {
    all: async () => Object.values(await read()),
    put: (l) => update((m) => void (m[l.name] = l)),
    remove: (name) => update((m) => void delete m[name]),
  };
}

/** Writes to every store; reads the union, each pot with the earliest end any store gives. */
export function combinedLeases(stores: LeaseStore[]): LeaseStore {
  return {
    async all() {
      const byName = new Map<string, PotLease>();
      for (const list of await Promise.all(stores.map((s) => s.all()))) {
        for (const l of list) {
          const had = byName.get(l.name);
          if (!had) byName.set(l.name, l);
          else if (had.owner !== l.owner || l.expiresAt < had.expiresAt)
            byName.set(l.name, {
              ...had,
              owner: had.owner === l.owner ? had.owner : '?',
              expiresAt: Math.min(had.expiresAt, l.expiresAt),
            });
        }
      }
      return [...byName.values()];
    },
    async put(l) {
      await Promise.all(stores.map((s) => s.put(l)));
    },
    async remove(name) {
      await Promise.all(stores.map((s) => s.remove(name)));
    },
  };
}
