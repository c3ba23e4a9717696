/** `kiln toolchain ls [--json]` */
import { presetId } from '../../protocol/toolchain.ts';
import { say, type Io } from '../command.ts';
import { apiFor } from '../session.ts';
import { listPresets } from '../toolchain-api.ts';

export async function handler(a: { json: boolean }, io: Io): Promise<number> {
  const presets = await listPresets(apiFor(io));
  if (a.json) {
    say(io.stdout, JSON.stringify({ presets }));
    return 0;
  }
  if (presets.length === 0) {
    say(io.stdout, 'no toolchain presets yet (publish one with kiln toolchain push)');
    return 0;
  }
  const width = Math.max(...presets.map((p) => presetId(p).length));
  for (const p of presets) {
    const size = `${(p.size / (1024 * 1024)).toFixed(1)} MiB`;
    say(
      io.stdout,
      `${presetId(p).padEnd(width)}  ${p.digest.slice(0, 12)}  ${size.padStart(10)}  ${p.compiler}  (${p.owner.sub}@${p.owner.tenant})` +
        (p.targets?.length ? `  targets ${p.targets.join(' ')}` : ''),
    );
  }
  return 0;
}
