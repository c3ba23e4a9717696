/**
 * `kiln fleet check` for one host: over SSH it reads the host's clock, counts builder agent
 * processes and runs `kiln host-check` with the host's own builder.toml (Redis, store, bwrap,
 * cgroups, disk, version: wiring/host-check.ts); from the gateway it adds whether the farm lists
 * the builder live, the clock skew against the gateway, and the version the farm runs.
 */
import { FarmError, UserError } from '../errors.ts';
import { call, type Api } from '../http.ts';
import { getBuilder } from '../farm/builders-api.ts';
import { connectSsh } from './ssh.ts';
import type { FleetHost } from './targets.ts';

export interface Fault {
  code: string;
  message: string;
}

export interface HostCheck {
  host: string;
  builder: string;
  ok: boolean;
  faults: Fault[];
  version: string | null;
  skewSec: number | null;
  agents: number | null;
  /** Drained in the farm (not a fault: said in the table). */
  draining: boolean;
}

/** What the farm side knows, read once per run. */
export interface FarmFacts {
  api: Api;
  /** The version every host should run (--expect-version, else the gateway's). */
  version: string | null;
  /** Gateway clock minus ours (ms), from its Date header. */
  gatewayOffsetMs: number | null;
  maxSkewSec: number;
}

/** Reads the gateway's version and clock (Date header, measured at the middle of the request). */
export async function farmFacts(
  api: Api,
  expectVersion: string | undefined,
  maxSkewSec: number,
): Promise<FarmFacts> {
  const t0 = Date.now();
  const res = await call(api, '/api/v1/status');
  const t1 = Date.now();
  const body = await res.json<{ version?: string }>();
  const date = Date.parse(res.headers.date ?? '');
  return {
    api,
    version: expectVersion ?? body.version ?? null,
    // The Date header has whole seconds: +500 ms puts it in the middle of its second.
    gatewayOffsetMs: Number.isNaN(date) ? null : date + 500 - (t0 + t1) / 2,
    maxSkewSec,
  };
}

const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

function probeScript(h: FleetHost): string {
  return [
    'printf "clock %s\\n" "$(date +%s)"',
    // node running kiln.js builder (not a shell that names it: [k] keeps this one out too).
    'printf "agents %s\\n" "$(pgrep -c -f "^[^ ]*node [^ ]*[k]iln[.]js builder" 2>/dev/null || true)"',
    `if [ -x ${q(h.kiln)} ]; then printf "report %s\\n" "$(${q(h.kiln)} host-check --config ${q(h.config)} --json 2>/dev/null | tail -n 1)"; else echo "report none"; fi`,
  ].join('; ');
}

function parseProbe(out: string): { clock: number | null; agents: number | null; report: string | null } {
  const line = (k: string): string | null => {
    const m = new RegExp(`^${k} (.*)$`, 'm').exec(out);
    return m ? m[1]!.trim() : null;
  };
  const clock = Number(line('clock'));
  const agents = Number(line('agents'));
  return {
    clock: Number.isFinite(clock) && clock > 0 ? clock : null,
    agents: Number.isFinite(agents) ? agents : null,
    report: line('report'),
  };
}

/** Checks one host; never throws (an unreachable host is a fault of that host). */
export async function checkFleetHost(h: FleetHost, farm: FarmFacts): Promise<HostCheck> {
  const result: HostCheck = {
    host: h.name,
    builder: h.builder,
    ok: false,
    faults: [],
    version: null,
    skewSec: null,
    agents: null,
    draining: false,
  };
  const fault = (code: string, message: string): void => void result.faults.push({ code, message });
  let session;
  try {
    session = await connectSsh(h.ssh);
  } catch (err) {
    const m = (err as Error).message;
    fault(/host key/.test(m) ? 'host-key-refused' : 'unreachable', m.replace(`${h.name}: `, ''));
    return result;
  }
  try {
    const t0 = Date.now();
    const r = await session.exec(`sh -c ${q(probeScript(h))}`);
    const p = parseProbe(r.stdout);
    result.agents = p.agents;
    if (p.clock !== null && farm.gatewayOffsetMs !== null) {
      // The host's clock against the gateway's, both seen from here; `date` has whole seconds.
      const skew = (p.clock * 1000 + 500 - t0 - farm.gatewayOffsetMs) / 1000;
      result.skewSec = Math.round(skew * 10) / 10;
      if (Math.abs(skew) > farm.maxSkewSec) {
        fault(
          'clock-skew',
          `the host's clock is ${result.skewSec} s off the gateway's (more than ${farm.maxSkewSec} s): leases and job tokens depend on it; fix NTP`,
        );
      }
    }
    if (p.agents === 0) {
      fault(
        'agent-not-running',
        `no kiln builder process runs (service ${h.service} start; kiln fleet logs ${h.name})`,
      );
    }
    if (!p.report || p.report === 'none') {
      fault(
        'kiln-missing',
        `${h.kiln} is not installed (provision the host: ansible-playbook playbooks/site.yml)`,
      );
    } else {
      try {
        const rep = JSON.parse(p.report) as { version: string; faults: Fault[] };
        result.version = rep.version;
        for (const f of rep.faults) fault(f.code, f.message);
        if (farm.version && rep.version !== farm.version) {
          fault(
            'wrong-version',
            `kiln ${rep.version} is installed, the farm runs ${farm.version} (upgrade: playbooks/rolling-upgrade.yml)`,
          );
        }
      } catch {
        fault('host-check-failed', `kiln host-check did not answer: ${p.report.slice(0, 300)}`);
      }
    }
    await farmSide(h, farm, result, p.agents ?? 0);
  } finally {
    session.close();
  }
  result.ok = result.faults.length === 0;
  return result;
}

async function farmSide(h: FleetHost, farm: FarmFacts, result: HostCheck, agents: number): Promise<void> {
  try {
    const s = await getBuilder(farm.api, h.builder);
    const live = s.builders.filter((b) => b.live);
    if (live.length === 0 && agents > 0) {
      result.faults.push({
        code: 'agent-not-registered',
        message: `the agent runs but the farm lists no live builder ${h.builder} (kiln fleet logs ${h.name})`,
      });
    }
    result.draining = s.drain !== null;
  } catch (err) {
    if (err instanceof FarmError && err.httpStatus === 404) {
      if (agents > 0) {
        result.faults.push({
          code: 'agent-not-registered',
          message: `the agent runs but the farm never saw a builder ${h.builder} (kiln fleet logs ${h.name})`,
        });
      }
      return;
    }
    throw err instanceof UserError || err instanceof FarmError ? err : new UserError(String(err));
  }
}
