/**
 * A real Redis Cluster on loopback for tests and benches (wiring/redis-cluster.ts: N masters, no
 * replicas) with an ioredis Cluster client, one in subscriber mode, and more on demand.
 */
import { Cluster } from 'ioredis';
import { startLocalCluster as startServers } from '../../wiring/redis-cluster.ts';

export interface LocalCluster {
  /** `127.0.0.1:PORT` of each master. */
  nodes: string[];
  client: Cluster;
  sub: Cluster;
  /** Another client (for a subscriber that its user may close); stopped with the cluster. */
  newSub(): Cluster;
  stop(): Promise<void>;
}

/** Starts an `n`-master cluster and connects to it. */
export async function startLocalCluster(n = 3): Promise<LocalCluster> {
  const servers = await startServers(n);
  const startup = servers.cluster.map((s) => ({ host: '127.0.0.1', port: Number(s.split(':')[1]) }));
  const client = new Cluster(startup);
  const sub = new Cluster(startup);
  const extra: Cluster[] = [];
  return {
    nodes: servers.cluster,
    client,
    sub,
    newSub() {
      const c = new Cluster(startup);
      extra.push(c);
      return c;
    },
    async stop() {
      for (const c of [client, sub, ...extra]) c.disconnect();
      await servers.stop();
    },
  };
}
