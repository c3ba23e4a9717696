/** Runs Debian's ansible-playbook on kiln's ansible/ and reads its recap. */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const ANSIBLE_DIR = fileURLToPath(new URL('../../../ansible/', import.meta.url));

export interface PlaybookRun {
  code: number;
  output: string;
  /** PLAY RECAP counters per host: ok, changed, failed, unreachable, skipped, … */
  recap: Record<string, Record<string, number>>;
}

/** Parses the `PLAY RECAP` lines (`host : ok=3 changed=1 unreachable=0 failed=0 …`). */
export function parseRecap(output: string): PlaybookRun['recap'] {
  const recap: PlaybookRun['recap'] = {};
  const at = output.lastIndexOf('PLAY RECAP');
  if (at < 0) return recap;
  for (const line of output.slice(at).split('\n').slice(1)) {
    const m = /^(\S+)\s+:\s+(.*)$/.exec(line.trim());
    if (!m) continue;
    const counts: Record<string, number> = {};
    for (const [, k, v] of m[2]!.matchAll(/(\w+)=(\d+)/g)) counts[k!] = Number(v);
    recap[m[1]!] = counts;
  }
  return recap;
}

/** `ansible-playbook <args>` from ansible/ (its ansible.cfg), with `env` added. */
export function playbook(args: string[], env: NodeJS.ProcessEnv = {}): Promise<PlaybookRun> {
  return new Promise((resolve, reject) => {
    const p = spawn('ansible-playbook', args, {
      cwd: ANSIBLE_DIR,
      env: {
        ...process.env,
        ANSIBLE_CONFIG: `${ANSIBLE_DIR}ansible.cfg`,
        ANSIBLE_NOCOLOR: '1',
        ANSIBLE_FORCE_COLOR: '0',
        ANSIBLE_LOCAL_TEMP: `${process.env.TMPDIR ?? '/tmp'}/ansible-local-${process.pid}`,
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    p.stdout.on('data', (d: Buffer) => (output += d.toString()));
    p.stderr.on('data', (d: Buffer) => (output += d.toString()));
    p.on('error', reject);
    p.on('exit', (code) => resolve({ code: code ?? 1, output, recap: parseRecap(output) }));
  });
}
