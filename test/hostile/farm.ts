/**
 * The farm a hostile-tenant suite file attacks: a real dev farm (redis-server, local-dir store,
 * the Node gateway, bwrap builders as child processes), ordinary tenants — `acme`, the attacker,
 * `rival`, whose things it goes after, and `ci` — and the helpers the attacks share.
 */
import { after, before } from 'node:test';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Redis } from 'ioredis';
import tar from 'tar-stream';
import { startDevFarm, type DevFarm, type DevFarmOptions } from '../../wiring/dev-farm.ts';
import { api, codeOf, readLog, waitJob, type Client } from '../helpers/http.ts';

export interface Ran {
  /** The status of the creation. */
  status: number;
  /** The creation's answer. */
  body: unknown;
  /** The finished job view (null when the creation was refused). */
  job: Record<string, unknown> | null;
  stdout: string;
  stderr: string;
}

export interface HostileFarm {
  farm(): DevFarm;
  acme(): Client;
  rival(): Client;
  /** A third tenant (the writer of a shared cache scope where a file sets one up). */
  ci(): Client;
  /** A command connection to the farm's Redis. */
  redis(): Redis;
  /** Every line the gateway and builders logged. */
  logs: string[];
  /** The process id of the first builder. */
  builderPid(): number;
  /** `VmRSS` and `VmHWM` of the first builder, bytes. */
  builderMemory(): Promise<{ rss: number; hwm: number }>;
  /** Creates a job as `who` and, when it was created, waits for it and reads its log (unless `log` is false). */
  run(who: Client, spec: unknown, opts?: { log?: boolean }): Promise<Ran>;
}

/** Starts a farm in `before` and stops it in `after` of the calling file. */
export function useHostileFarm(opts: DevFarmOptions = {}): HostileFarm {
  const tokens = {
    acme: 'acme-' + randomBytes(12).toString('hex'),
    rival: 'rival-' + randomBytes(12).toString('hex'),
    ci: 'ci-' + randomBytes(12).toString('hex'),
  };
  let farm: DevFarm | undefined;
  let conn: Redis | undefined;
  const logs: string[] = [];
  before(async () => {
    farm = await startDevFarm({
      builders: 1,
      slots: 4,
      port: 0,
      leaseMs: 5000,
      log: (m) => logs.push(m),
      authMethods: [
        {
          type: 'token',
          tokens: [
            { token: tokens.acme, sub: 'mallory', tenant: 'acme' },
            { token: tokens.rival, sub: 'victor', tenant: 'rival' },
            { token: tokens.ci, sub: 'ci-bot', tenant: 'ci' },
          ],
        },
      ],
      ...opts,
    });
    conn = new Redis(farm.redis.url);
  });
  after(async () => {
    conn?.disconnect();
    await farm?.stop();
  });
  const client = (token: string): Client => ({ url: farm!.url, token });
  const h: HostileFarm = {
    farm: () => farm!,
    acme: () => client(tokens.acme),
    rival: () => client(tokens.rival),
    ci: () => client(tokens.ci),
    redis: () => conn!,
    logs,
    builderPid: () => farm!.builders[0]!.pid!,
    async builderMemory() {
      const status = await readFile(`/proc/${h.builderPid()}/status`, 'utf8');
      const kib = (k: string): number =>
        Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(status)?.[1]) * 1024;
      return { rss: kib('VmRSS'), hwm: kib('VmHWM') };
    },
    async run(who, spec, opts = {}) {
      let r = await api(who, '/api/v1/jobs', { method: 'POST', json: spec });
      // A full farm answers 503 with Retry-After; a client asks again (bounded), as kiln does.
      for (let i = 0; i < 60 && r.status === 503 && codeOf(r.body) === 'ERR_NO_CAPACITY'; i++) {
        const after = Number(r.headers.get('retry-after')) || 1;
        await new Promise((res) => setTimeout(res, Math.min(after, 2) * 1000));
        r = await api(who, '/api/v1/jobs', { method: 'POST', json: spec });
      }
      if (r.status !== 201) return { status: r.status, body: r.body, job: null, stdout: '', stderr: '' };
      const id = (r.body as { job: { id: string } }).job.id;
      const job = await waitJob(who, id);
      const log = opts.log === false ? { stdout: '', stderr: '' } : await readLog(who, id, false);
      return { status: r.status, body: r.body, job, stdout: log.stdout, stderr: log.stderr };
    },
  };
  return h;
}

/** The error code and message of an answer, for a try's detail. */
export function said(status: number, body: unknown): string {
  const msg = (body as { error?: { message?: string } } | null)?.error?.message ?? '';
  return `${status} ${codeOf(body) ?? ''} ${msg}`.trim().slice(0, 160);
}

/** A job's farm error code, if it has one. */
export function jobError(job: Record<string, unknown> | null): string | undefined {
  return (job?.error as { code?: string } | null | undefined)?.code;
}

/** Base64 of a string (inline files). */
export const b64 = (s: string | Uint8Array): string => Buffer.from(s).toString('base64');

/** One entry of a job's outputs tar. */
export interface TarEntry {
  name: string;
  type: string;
  linkname: string | null;
}

/** The entries of a finished job's outputs tar (none when it has no outputs). */
export async function outputEntries(who: Client, jobId: string): Promise<TarEntry[]> {
  const res = await fetch(`${who.url}/api/v1/jobs/${jobId}/outputs`, {
    headers: { Authorization: `Bearer ${who.token}` },
  });
  if (res.status === 404) return [];
  if (res.status !== 200 || !res.body) throw new Error(`outputs of ${jobId}: ${res.status}`);
  const extract = tar.extract();
  const entries: TarEntry[] = [];
  const done = (async () => {
    for await (const e of extract) {
      entries.push({ name: e.header.name, type: String(e.header.type), linkname: e.header.linkname ?? null });
      e.resume();
    }
  })();
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) extract.write(chunk);
  extract.end(null);
  await done;
  return entries;
}
