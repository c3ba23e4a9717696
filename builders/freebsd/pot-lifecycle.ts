/**
 * The life of one pool pot, as pot commands: made from the template (clone, CPUs, snapshot of the
 * clean state), started ready for a job (start, then raw sockets off: start.sh always allows them),
 * stopped after a job (every process killed, `pot stop` unmounts the job), put back to the snapshot
 * (`revert` also drops the job's mount-in lines from fscomp.conf), and destroyed.
 */
import type { HostTools } from './host-tools.ts';
import { hostCmd, potCmd } from './pot-commands.ts';

export interface PotSpec {
  name: string;
  template: string;
  /** The jail's only address, on lo0. */
  ip: string;
  /** CPUs of its cpuset, or undefined for all. */
  cpus?: number;
}

/** Clones the template and snapshots the clean clone; the pot is left stopped. */
export async function makePot(tools: HostTools, p: PotSpec): Promise<void> {
  await tools.must(potCmd.clone(p.name, p.template, p.ip));
  if (p.cpus !== undefined) await tools.must(potCmd.setCpus(p.name, p.cpus));
  await tools.must(potCmd.snapshot(p.name));
}

/** Starts the pot's jail and takes raw sockets away from it. */
export async function startPot(tools: HostTools, name: string): Promise<void> {
  await tools.must(potCmd.start(name));
  await tools.must(hostCmd.noRawSockets(name));
}

/** Kills every process of the jail, stops it (unmounting the job) and removes its rctl rules. */
export async function stopPot(tools: HostTools, name: string): Promise<void> {
  await tools.must(hostCmd.signalAll(name, 'KILL'), [0, 1]); // 1: no process left
  await tools.must(potCmd.stop(name));
  await tools.must(hostCmd.removeRules(name));
}

/** Back to the snapshot taken when it was made, then running again. */
export async function recyclePot(tools: HostTools, name: string): Promise<void> {
  await tools.must(potCmd.revert(name));
  await startPot(tools, name);
}

/** Destroys the pot (stopping it first) and removes its rctl rules; never throws. */
export async function destroyPot(tools: HostTools, name: string, log: (m: string) => void): Promise<void> {
  await tools
    .must(potCmd.destroy(name))
    .catch((e: unknown) => log(`cannot destroy pot ${name}: ${(e as Error).message}`));
  await tools.run(hostCmd.removeRules(name)).catch(() => undefined);
}

/** Names of every pot on the host. */
export async function listPots(tools: HostTools): Promise<string[]> {
  const r = await tools.must(potCmd.list());
  return r.stdout
    .split('\n')
    .map((s) => s.trim())
    .filter(Boolean);
}
