/** `kiln host-check [--config builder.toml] [--json]` — can this host run a builder? (kiln fleet check runs it over SSH) */
import { builderConfigSchema } from '../../builders/core/config.ts';
import { loadConfig } from '../../wiring/load-config.ts';
import { say, type Io } from '../command.ts';
import { checkHost } from '../../wiring/host-check.ts';

export async function handler(
  a: { config?: string; json: boolean; minFree: number },
  io: Io,
): Promise<number> {
  const cfg = loadConfig(builderConfigSchema, { ...(a.config ? { file: a.config } : {}), env: io.env });
  const report = await checkHost(cfg, { minFreePercent: a.minFree });
  if (a.json) say(io.stdout, JSON.stringify(report));
  else {
    say(io.stdout, `kiln ${report.version} (${report.release}), builder ${report.name}`);
    for (const f of report.faults) say(io.stdout, `  FAULT ${f.code}: ${f.message}`);
    if (report.faults.length === 0) say(io.stdout, '  ok');
  }
  return report.faults.length === 0 ? 0 : 1;
}
