/** `kiln fleet logs HOST… [-n N] [-f]` — the builder agent's log on each host, over SSH. */
import { say, type Io } from '../command.ts';
import { UserError } from '../errors.ts';
import type { FleetArgs } from '../fleet/options.ts';
import { openFleet } from '../fleet/session.ts';
import { connectSsh } from '../fleet/ssh.ts';
import { mapBounded } from '../fleet/targets.ts';
import type { FleetHost } from '../fleet/targets.ts';

/** journalctl on systemd hosts, the log file the init script (or rc.d) writes elsewhere. */
function logCommand(h: FleetHost, lines: number, follow: boolean): string {
  const f = follow ? ' -f' : '';
  return (
    `if [ -d /run/systemd/system ] && command -v journalctl >/dev/null; then ` +
    `journalctl -u ${h.service} --no-pager -n ${lines}${f}; ` +
    `elif [ -f ${h.logFile} ]; then tail -n ${lines}${f} ${h.logFile}; ` +
    `else echo "no log: neither the journal nor ${h.logFile}" >&2; exit 3; fi`
  );
}

export async function handler(a: FleetArgs & { lines: number; follow: boolean }, io: Io): Promise<number> {
  const fleet = openFleet(a, io);
  if (a.follow && fleet.hosts.length > 1)
    throw new UserError('--follow works on one host at a time: name it');
  if (!Number.isInteger(a.lines) || a.lines < 1) throw new UserError('-n must be a whole number ≥ 1');
  const codes = await mapBounded(fleet.hosts, a.parallel, async (h) => {
    const s = await connectSsh(h.ssh);
    try {
      const prefix = fleet.hosts.length > 1 ? `${h.name}: ` : '';
      let buf = '';
      const r = await s.exec(logCommand(h, a.lines, a.follow), (chunk, which) => {
        if (which === 'err') return void io.stderr.write(prefix + chunk.toString());
        buf += chunk.toString();
        const lines = buf.split('\n');
        buf = lines.pop() ?? '';
        for (const l of lines)
          say(io.stdout, a.json ? JSON.stringify({ host: h.name, line: l }) : prefix + l);
      });
      if (buf) say(io.stdout, a.json ? JSON.stringify({ host: h.name, line: buf }) : prefix + buf);
      return r.code;
    } finally {
      s.close();
    }
  });
  return codes.every((c) => c === 0) ? 0 : 1;
}
