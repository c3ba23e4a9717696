/**
 * The warm pool: `size` pots of the template, each started and waiting for a job, each with a
 * lease (builders/freebsd/leases.ts) recorded before the pot exists. A job takes a ready pot whose
 * lease outlasts the job's time limit; afterwards the pot is reverted to its clean snapshot and
 * waits again, until its lease ends and it is replaced. A pool at its size makes the next job
 * wait. At start the pool reclaims its own pots from an earlier run and destroys every kiln pot of
 * the host whose lease ended or that has none; a cleaner does the same periodically, so the
 * orphans of another, dead instance go too. Pot names are `kiln-<owner>-<slot>-<id>`.
 */
import { randomBytes } from 'node:crypto';
import { KilnError } from '../../protocol/errors.ts';
import type { HostTools } from './host-tools.ts';
import type { LeaseStore, PotLease } from './leases.ts';
import { destroyPot, listPots, makePot, recyclePot, startPot, stopPot } from './pot-lifecycle.ts';

export interface PoolOptions {
  tools: HostTools;
  leases: LeaseStore;
  /** This instance's name: letters, digits and `_` only (it is part of pot names). */
  owner: string;
  template: string;
  size: number;
  leaseMs: number;
  /** The first three octets of the pots' loopback addresses (127.x.y): slot i gets 127.x.y.(i+1). */
  loopbackNet: string;
  cpus?: number;
  /** How often the cleaner runs. @default 30000 */
  sweepMs?: number;
  log(msg: string): void;
  /** The clock (tests). @default Date.now */
  now?: () => number;
}

export interface Pot {
  name: string;
  slot: number;
  lease: PotLease;
}

type Slot = { state: 'empty' | 'making' | 'ready' | 'busy' | 'recycling'; pot: Pot | null };

export interface PotPool {
  /** Reclaims, cleans, and fills every slot; resolves when the pool is ready. */
  start(): Promise<void>;
  /** A ready pot whose lease has `minLifeMs` left; waits while none is; null once `signal` aborts. */
  acquire(minLifeMs: number, signal: AbortSignal): Promise<Pot | null>;
  /** Gives back a pot whose jail runs no more (stopPot done): it is reverted and made ready again. */
  release(pot: Pot): void;
  /** One cleaner pass. */
  sweep(): Promise<void>;
  /** Slots by state (tests, metrics). */
  states(): Slot['state'][];
  /** Jobs waiting for a pot. */
  waiting(): number;
  /** Stops the cleaner, waits for work under way, destroys this instance's pots. */
  stop(): Promise<void>;
}

const NAME = /^kiln-([A-Za-z0-9_]+)-(\d+)-([a-z0-9]+)$/;

export function createPotPool(o: PoolOptions): PotPool {
  if (!/^[A-Za-z0-9_]+$/.test(o.owner))
    throw new KilnError('ERR_CONFIG', `pool owner ${o.owner} is not a pot name part`);
  const now = o.now ?? Date.now;
  const slots: Slot[] = Array.from({ length: o.size }, () => ({ state: 'empty', pot: null }));
  const waiters = new Set<() => void>();
  const work = new Set<Promise<void>>();
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const wake = (): void => {
    for (const w of [...waiters]) w();
  };
  const track = (p: Promise<void>): void => {
    work.add(p);
    void p.finally(() => work.delete(p));
  };
  const ipOf = (slot: number): string => `${o.loopbackNet}.${slot + 1}`;

  async function make(i: number): Promise<void> {
    const slot = slots[i]!;
    slot.state = 'making';
    const t = now();
    const name = `kiln-${o.owner}-${i}-${t.toString(36)}${randomBytes(2).toString('hex')}`;
    const lease: PotLease = { name, owner: o.owner, createdAt: t, expiresAt: t + o.leaseMs };
    try {
      await o.leases.put(lease); // before the pot exists, so no cleaner ever sees it without a lease
      await makePot(o.tools, {
        name,
        template: o.template,
        ip: ipOf(i),
        ...(o.cpus ? { cpus: o.cpus } : {}),
      });
      await startPot(o.tools, name);
      slot.pot = { name, slot: i, lease };
      slot.state = 'ready';
      wake();
    } catch (e) {
      o.log(`cannot make pot ${name}: ${(e as Error).message}`);
      await destroyPot(o.tools, name, o.log);
      await o.leases.remove(name).catch(() => undefined);
      slot.state = 'empty';
      slot.pot = null;
      throw e;
    }
  }

  /** Destroys the slot's pot and makes a new one (in the background unless awaited). */
  async function replace(i: number): Promise<void> {
    const slot = slots[i]!;
    const old = slot.pot;
    slot.state = 'making';
    slot.pot = null;
    if (old) {
      await destroyPot(o.tools, old.name, o.log);
      await o.leases.remove(old.name).catch(() => undefined);
    }
    if (!stopped) await make(i).catch(() => undefined);
  }

  async function recycle(i: number): Promise<void> {
    const slot = slots[i]!;
    const pot = slot.pot!;
    if (pot.lease.expiresAt - now() < o.leaseMs / 10) return replace(i);
    try {
      await recyclePot(o.tools, pot.name);
      slot.state = 'ready';
      wake();
    } catch (e) {
      o.log(`pot ${pot.name} could not be reused, replacing it: ${(e as Error).message}`);
      await replace(i);
    }
  }

  /** Adopts a pot of this instance from an earlier run: stopped, reverted, started. */
  async function adopt(lease: PotLease, i: number): Promise<void> {
    slots[i] = { state: 'recycling', pot: { name: lease.name, slot: i, lease } };
    try {
      await stopPot(o.tools, lease.name);
      await recycle(i);
    } catch (e) {
      o.log(`cannot reclaim pot ${lease.name}: ${(e as Error).message}`);
      await replace(i);
    }
  }

  /** Destroys every kiln pot (of any instance) whose lease ended or that has none; drops stale leases. */
  async function clean(reclaim: boolean): Promise<void> {
    const names = (await listPots(o.tools)).filter((n) => NAME.test(n));
    const leases = new Map((await o.leases.all()).map((l) => [l.name, l]));
    const mine = new Set(slots.map((s) => s.pot?.name).filter(Boolean));
    const jobs: Promise<void>[] = [];
    for (const name of names) {
      if (mine.has(name)) continue;
      const lease = leases.get(name);
      const slot = Number(NAME.exec(name)![2]);
      if (lease && lease.expiresAt > now()) {
        if (reclaim && lease.owner === o.owner && slot < o.size && slots[slot]!.state === 'empty') {
          o.log(`reclaiming pot ${name} from an earlier run`);
          jobs.push(adopt(lease, slot));
        }
        continue; // another instance's live pot
      }
      o.log(`destroying pot ${name}: ${lease ? 'its lease ended' : 'it has no lease'}`);
      jobs.push(destroyPot(o.tools, name, o.log).then(() => o.leases.remove(name).catch(() => undefined)));
    }
    for (const l of leases.values())
      if (!names.includes(l.name) && (l.owner === o.owner || l.expiresAt <= now()) && !mine.has(l.name))
        jobs.push(o.leases.remove(l.name).catch(() => undefined));
    await Promise.all(jobs);
  }

  async function sweep(): Promise<void> {
    await clean(false);
    for (let i = 0; i < slots.length && !stopped; i++) {
      const s = slots[i]!;
      if (s.state === 'empty') track(make(i).catch(() => undefined));
      else if (s.state === 'ready' && s.pot!.lease.expiresAt <= now()) track(replace(i));
    }
  }

  return {
    async start() {
      await clean(true);
      await Promise.all(slots.map((s, i) => (s.state === 'empty' ? make(i) : Promise.resolve())));
      timer = setInterval(() => {
        sweep().catch((e: unknown) => o.log(`pot cleaner: ${(e as Error).message}`));
      }, o.sweepMs ?? 30_000);
      timer.unref();
    },

    async acquire(minLifeMs, signal) {
      if (minLifeMs > o.leaseMs)
        throw new KilnError(
          'ERR_VALIDATION',
          `the job needs ${Math.ceil(minLifeMs / 1000)} s, more than this builder's pot lease (${o.leaseMs / 1000} s)`,
        );
      for (;;) {
        if (signal.aborted || stopped) return null;
        const i = slots.findIndex((s) => s.state === 'ready' && s.pot!.lease.expiresAt - now() >= minLifeMs);
        if (i >= 0) {
          slots[i]!.state = 'busy';
          return slots[i]!.pot;
        }
        slots.forEach((s, j) => {
          if (s.state === 'ready') track(replace(j)); // too short-lived for this job
        });
        await new Promise<void>((resolve) => {
          const done = (): void => {
            waiters.delete(done);
            signal.removeEventListener('abort', done);
            resolve();
          };
          waiters.add(done);
          signal.addEventListener('abort', done, { once: true });
        });
      }
    },

    release(pot) {
      const slot = slots[pot.slot];
      if (!slot || slot.pot?.name !== pot.name) return;
      slot.state = 'recycling';
      track(recycle(pot.slot));
    },

    sweep,
    states: () => slots.map((s) => s.state),
    waiting: () => waiters.size,

    async stop() {
      stopped = true;
      clearInterval(timer);
      wake();
      while (work.size) await Promise.all([...work]);
      await Promise.all(
        slots.map(async (s) => {
          if (!s.pot) return;
          await destroyPot(o.tools, s.pot.name, o.log);
          await o.leases.remove(s.pot.name).catch(() => undefined);
          s.pot = null;
          s.state = 'empty';
        }),
      );
    },
  };
}
